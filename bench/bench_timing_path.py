"""Where the last millisecond goes: the harness's e2e excess over an injected latency, split into its parts.

The harness stamps a request sent in botocore's `before-send` hook and done in `before-parse`, as the run
engine requires. Between those stamps and the socket, boto3 itself still works: urllib3 and http.client write
the request after `before-send`, and read the status line, parse the headers and build the response dict
before `before-parse`. This benchmark wraps the socket's `sendall` and `recv_into` (in this process only) to
time those two stretches, and reads the emulator's own lateness from its admin stats, for the harness's
Transport at concurrency 32 against a fixed 500 ms. Prints figures; not a test.

Usage: .venv/bin/python bench/bench_timing_path.py
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import numpy as np

from evals.apis.metadata import build_request_metadata
from evals.cards import load_card
from evals.emulator import Emulator, EmulatorOptions
from evals.gcpause import freeze_startup_objects
from evals.run.transport import Transport
from evals.run.transport_settings import TransportSettings
from evals.types import InferenceParams, Request, Sample

INJECTED_MS = 500.0
CONCURRENCY = 32
ROUNDS = 12  # requests per thread; the first two are warm-up
_marks = threading.local()


def _wrap_socket() -> None:
    """Stamp each thread's first write and last read of a request on the same clock as the harness."""
    sendall, recv_into = socket.socket.sendall, socket.socket.recv_into

    def timed_sendall(self: socket.socket, data: Any, *args: Any) -> None:
        if getattr(_marks, "first_write", None) is None:
            _marks.first_write = time.perf_counter_ns()
        sendall(self, data, *args)

    def timed_recv_into(self: socket.socket, *args: Any, **kwargs: Any) -> int:
        n = recv_into(self, *args, **kwargs)
        _marks.last_read = time.perf_counter_ns()
        return n

    socket.socket.sendall = timed_sendall  # type: ignore[method-assign]
    socket.socket.recv_into = timed_recv_into  # type: ignore[method-assign]


def main() -> None:
    card = load_card("llama4-maverick")
    options = EmulatorOptions.from_dict({"latency_profile": "fixed", "fixed_latency_ms": INJECTED_MS, "seed": 1,
                                         "quota_scale": 10_000.0})
    rows: list[tuple[float, float, float]] = []
    lock = threading.Lock()
    with Emulator(options) as emu:
        transport = Transport(TransportSettings(), card.family, emu.endpoints, CONCURRENCY)
        transport.client("us-east-1")
        _wrap_socket()

        def worker(k: int) -> None:
            time.sleep(k * INJECTED_MS / 1000 / CONCURRENCY)  # staggered, as load.ramp_s does
            for n in range(ROUNDS):
                sample = Sample(id=f"s{k}-{n}", prompt=f"What is {k} + {n}?", answer=str(k + n))
                request = Request(request_id=f"r{k}-{n}", index=n, suite="path", suite_version="1", sample=sample,
                                  params=InferenceParams(max_tokens=16), api="converse", region="us-east-1",
                                  tier="default", model_id=card.invocation_id("us-east-1"), repeat=0)
                _marks.first_write = None
                out = transport.send(request, time.perf_counter_ns(), build_request_metadata(request, None))
                if n >= 2 and out.ok:
                    with lock:
                        rows.append(((_marks.first_write - out.t_sent_ns) / 1e6,
                                     (out.t_done_ns - _marks.last_read) / 1e6,
                                     (out.t_done_ns - out.t_sent_ns) / 1e6 - INJECTED_MS))

        freeze_startup_objects()
        emu.reset()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONCURRENCY)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        late = emu.stats()["first_write_late_ms"]
        transport.close()
    data = np.array(rows)
    print(f"\n## Where the excess goes: Transport, Converse, fixed {INJECTED_MS:.0f} ms, concurrency {CONCURRENCY}, "
          f"{len(rows)} requests")
    print("| stretch | p50 | p99 |")
    print("|---|---|---|")
    print(f"| e2e measured minus injected | {np.median(data[:, 2]):+.3f} ms "
          f"| {np.percentile(data[:, 2], 99):+.3f} ms |")
    print(f"| `before-send` stamp to the first socket write (urllib3, http.client) | {np.median(data[:, 0]):.3f} ms "
          f"| {np.percentile(data[:, 0], 99):.3f} ms |")
    print(f"| last socket read to the `before-parse` stamp (status line, headers, response dict) "
          f"| {np.median(data[:, 1]):.3f} ms | {np.percentile(data[:, 1], 99):.3f} ms |")
    print(f"| emulator: its write began after the deadline (all {late['n']} answers) | {late['p50']:.3f} ms "
          f"| {late['p99']:.3f} ms |")
    rest = data[:, 2] - data[:, 0] - data[:, 1]
    print(f"| the rest: the emulator (reading the request, its lateness above), both kernels, waking to read "
          f"| {np.median(rest):.3f} ms | {np.percentile(rest, 99):.3f} ms |")


if __name__ == "__main__":
    main()
