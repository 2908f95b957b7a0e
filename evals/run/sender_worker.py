"""A sender worker process (`python -m evals.run.sender_worker FD`): turns requests into transport Outcomes.

Started by `evals.run.process_sender`, talking over one socket whose descriptor it inherits. A plain interpreter
started with -m, not multiprocessing's spawn, so it never re-imports the caller's main script.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection

from evals.gcpause import freeze_startup_objects
from evals.run.endpoints import LocalEndpoints
from evals.run.outcome import Outcome
from evals.run.transport import Transport
from evals.run.transport_settings import TransportSettings
from evals.types import Request


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its own Transport (the emulator's keys travel over a private socket only)."""

    settings: TransportSettings
    family: str
    endpoints: LocalEndpoints | None
    concurrency: int
    regions: tuple[str, ...]


def serve(conn: Connection) -> None:
    """Build clients, then send whatever arrives until told to stop (None) or the run process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run process's to handle (drain, then abort)
    try:
        spec: WorkerSpec = conn.recv()
        transport = Transport(spec.settings, spec.family, spec.endpoints, spec.concurrency)
        for region in spec.regions:  # set-up cost before the first request, as in a single process
            transport.client(region)
    except Exception as err:
        conn.send(("failed", f"{type(err).__name__}: {err}"))
        return
    freeze_startup_objects()  # a full collection would stall every request in flight
    conn.send(("ready", None))
    reply_lock = threading.Lock()

    def send(ticket: int, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> None:
        try:
            result: Outcome | str = transport.send(request, t_intended_ns, metadata)
        except Exception as err:  # Transport.send does not raise for a failed request; this is a bug
            result = f"{type(err).__name__}: {err}"
        with reply_lock:
            conn.send((ticket, result))

    pool = ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="send")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        pool.submit(send, *message)
    pool.shutdown(wait=False, cancel_futures=True)
    transport.close()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
