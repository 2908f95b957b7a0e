"""Harness transport overhead: `Transport.send` against a raw boto3 `converse` loop, same concurrency.

Both arms call the emulator's zero-latency profile over real sockets with the same request. Printed per arm:
requests/s and client CPU per request (process CPU time / requests; the emulator runs in its own process).
Targets: harness throughput >= 0.7x raw, client CPU per request <= 1.5x raw.

    .venv/bin/python bench/bench_transport.py [--requests 2000] [--concurrency 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from evals.apis.metadata import build_request_metadata
from evals.cards import load_card
from evals.emulator import Emulator
from evals.emulator.options import EmulatorOptions
from evals.run.transport import Transport
from evals.run.transport_settings import TransportSettings
from evals.types import API_CONVERSE, InferenceParams, Request, Sample

REGION = "us-east-1"


def make_request(api: str, card_name: str) -> Request:
    card = load_card(card_name)
    sample = Sample(id="b0", prompt="Say hello in five words.", answer=None, system="Be brief.")
    return Request(
        request_id="bench-0",
        index=0,
        suite="bench",
        suite_version="1",
        sample=sample,
        params=InferenceParams(max_tokens=16),
        api=api,
        region=REGION,
        tier="default",
        model_id=card.invocation_id(REGION),
        repeat=0,
    )


def run_threads(total: int, concurrency: int, call: Callable[[], Any]) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, errors) for `total` calls spread over `concurrency` threads."""
    counter = iter(range(total))
    lock = threading.Lock()
    errors = 0

    def worker() -> None:
        nonlocal errors
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            if not call():
                with lock:
                    errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - wall0, time.process_time() - cpu0, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per arm (the best is kept)")
    parser.add_argument("--model", default="llama3-3-70b")
    args = parser.parse_args()

    request = make_request(API_CONVERSE, args.model)
    # Quotas scaled out of the way: this measures the client, not the emulated service limits.
    options = EmulatorOptions.from_dict({"latency_profile": "zero", "quota_scale": 1e6})
    with Emulator(options) as emu:
        settings = TransportSettings(auth="sigv4", max_pool_connections=args.concurrency)
        transport = Transport(settings, load_card(args.model).family, emu.endpoints, args.concurrency)
        metadata = build_request_metadata(request)
        kwargs = transport.build_kwargs(request, metadata)

        ep = emu.endpoints
        raw = boto3.Session().client(
            "bedrock-runtime",
            region_name=REGION,
            endpoint_url=ep["regions"][REGION]["http"],
            aws_access_key_id=ep["credentials"]["access_key_id"],
            aws_secret_access_key=ep["credentials"]["secret_access_key"],
            config=Config(
                signature_version="v4",
                retries={"mode": "standard", "total_max_attempts": 3},
                max_pool_connections=args.concurrency,
            ),
        )

        def raw_call() -> bool:
            try:
                raw.converse(**kwargs)
            except Exception:
                return False
            return True

        def harness_call() -> bool:
            return transport.send(request, time.perf_counter_ns(), metadata).ok

        for call in (raw_call, harness_call):  # warm both pools and code paths
            run_threads(min(200, args.requests), args.concurrency, call)

        best: dict[str, tuple[float, float, int]] = {}
        for _ in range(args.rounds):
            for name, call in (("raw boto3", raw_call), ("harness", harness_call)):
                wall, cpu, errors = run_threads(args.requests, args.concurrency, call)
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu, errors)
        transport.close()
        raw.close()

    n = args.requests
    print(f"converse x {n} requests, concurrency {args.concurrency}, emulator latency profile zero")
    print(f"{'arm':<10} {'req/s':>9} {'CPU ms/req':>11} {'errors':>7}")
    rows = {}
    for name, (wall, cpu, errors) in best.items():
        rows[name] = (n / wall, cpu / n * 1e3)
        print(f"{name:<10} {rows[name][0]:>9.0f} {rows[name][1]:>11.3f} {errors:>7}")
    (raw_rps, raw_cpu), (h_rps, h_cpu) = rows["raw boto3"], rows["harness"]
    print(f"ratio      {h_rps / raw_rps:>9.2f}x {h_cpu / raw_cpu:>10.2f}x   (targets: >= 0.70x, <= 1.50x)")


if __name__ == "__main__":
    main()
