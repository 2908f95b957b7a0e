"""Send requests from worker processes (`transport.processes`), so timing does not queue behind one interpreter.

In one process, every response waits for the interpreter lock while other threads score, write records and
build the next requests; at a few hundred requests/s that wait lands inside measured latencies. Here the run
process keeps pacing, limits, budget, scoring and records, and each worker process only turns (request,
intended time, metadata) into a transport Outcome with its own boto3 clients. Worker timestamps are
`time.perf_counter_ns`, CLOCK_MONOTONIC on Linux and shared by every process on the machine, so they sit on
the run's timeline unchanged. Hand-written over a socket pair per worker because ProcessPoolExecutor runs one
task at a time per process, and a sender needs dozens of requests in flight in each.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from evals.errors import UserInputError
from evals.paths import REPO_ROOT
from evals.run.endpoints import LocalEndpoints
from evals.run.outcome import Outcome, classify
from evals.run.sender_worker import WorkerSpec
from evals.run.transport_settings import TransportSettings
from evals.types import Request

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 2.0
WORKER_EXITED = "SenderProcessExited"
WORKER_BUG = "SenderError"


@dataclass(frozen=True)
class _Exited:
    reason: str


@dataclass
class _Slot:
    """One request in flight: its worker's Outcome, the worker's error text, or why the worker went away."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Outcome | str | _Exited | None = None


@dataclass
class _Worker:
    name: str
    process: subprocess.Popen[bytes]
    conn: Connection
    pending: dict[int, _Slot] = field(default_factory=dict)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    exited: str | None = None  # why the worker can no longer send


class ProcessSender:
    """A `Sender` that hands each request to the worker process with the fewest requests in flight."""

    def __init__(
        self,
        settings: TransportSettings,
        family: str,
        endpoints: LocalEndpoints | Mapping[str, Any] | None,
        *,
        processes: int,
        concurrency: int,
        regions: Sequence[str],
    ) -> None:
        if processes < 1:  # transport.processes is checked with the config (evals/config_checks.py)
            raise ValueError(f"processes must be >= 1, got {processes}")
        if endpoints is not None and not isinstance(endpoints, LocalEndpoints):
            endpoints = LocalEndpoints.from_mapping(endpoints)
        spec = WorkerSpec(settings, family, endpoints, concurrency, tuple(regions))
        env = {**os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self._lock = threading.Lock()
        self._tickets = 0
        self._workers: list[_Worker] = []
        try:
            for k in range(processes):
                ours, theirs = socket.socketpair()
                with theirs:
                    process = subprocess.Popen([sys.executable, "-m", "evals.run.sender_worker", str(theirs.fileno())],
                                               pass_fds=[theirs.fileno()], env=env,
                                               stdout=subprocess.DEVNULL)  # the run's stdout ends with its dir
                worker = _Worker(f"sender process {k} (pid {process.pid})", process, Connection(ours.detach()))
                self._workers.append(worker)
                worker.conn.send(spec)
            for worker in self._workers:
                self._await_ready(worker)
        except BaseException:
            self.close()
            raise
        for k, worker in enumerate(self._workers):
            threading.Thread(target=self._receive, args=(worker,), daemon=True, name=f"sender-rx-{k}").start()

    @staticmethod
    def _await_ready(worker: _Worker) -> None:
        if not worker.conn.poll(START_TIMEOUT_S):
            raise RuntimeError(f"{worker.name} did not start within {START_TIMEOUT_S:.0f} s")
        try:
            status, detail = worker.conn.recv()
        except EOFError:
            raise RuntimeError(f"{worker.name} exited while starting") from None
        if status != "ready":
            raise UserInputError(f"transport: a sender process could not build its clients: {detail}")

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    @property
    def sent_per_process(self) -> list[int]:
        return [w.sent for w in self._workers]

    def send(self, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> Outcome:
        """Blocks the calling thread until its worker answers; never raises for a failed request."""
        slot = _Slot()
        with self._lock:
            live = [w for w in self._workers if w.exited is None]
            if not live:
                return _failed(t_intended_ns, WORKER_EXITED, self._workers[0].exited or "no sender process")
            worker = min(live, key=lambda w: len(w.pending))
            self._tickets += 1
            ticket = self._tickets
            worker.pending[ticket] = slot
            worker.sent += 1
        try:
            with worker.send_lock:
                worker.conn.send((ticket, request, t_intended_ns, dict(metadata)))
        except (OSError, ValueError) as err:
            with self._lock:
                worker.pending.pop(ticket, None)
            return _failed(t_intended_ns, WORKER_EXITED, f"{worker.name}: {err}")
        slot.done.wait()
        if isinstance(slot.result, Outcome):
            return slot.result
        if isinstance(slot.result, _Exited):
            return _failed(t_intended_ns, WORKER_EXITED, slot.result.reason)
        return _failed(t_intended_ns, WORKER_BUG, f"{worker.name}: {slot.result}")  # raised in Transport.send

    def _receive(self, worker: _Worker) -> None:
        """Hand each answer to the thread waiting for it; if the worker dies, fail what it held."""
        while True:
            try:
                ticket, result = worker.conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                slot = worker.pending.pop(ticket, None)
            if slot is not None:
                slot.result = result
                slot.done.set()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=STOP_TIMEOUT_S)
        reason = f"{worker.name} exited (exit code {worker.process.returncode}) with requests in flight"
        with self._lock:
            worker.exited = reason
            orphans = list(worker.pending.values())
            worker.pending.clear()
        for slot in orphans:
            slot.result = _Exited(reason)
            slot.done.set()

    def close(self) -> None:
        """Stop the workers: requests still in flight in them are abandoned (the run has drained or aborted)."""
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError), worker.send_lock:
                worker.conn.send(None)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self._workers:
            try:
                worker.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()

    def __enter__(self) -> ProcessSender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _failed(t_intended_ns: int, code: str, message: str) -> Outcome:
    """A request its worker could not answer: a fatal error record (the run halts), never a silent loss."""
    now = time.perf_counter_ns()
    return Outcome(
        status="error", reply=None, error_code=code, error_class=classify(code, None),
        error_message=message, http_status=None, attempts=0, throttles=0, backoff_ms=0.0,
        t_intended_ns=t_intended_ns, t_sent_ns=now, t_first_token_ns=None, t_done_ns=now, last_attempt_ms=0.0,
    )
