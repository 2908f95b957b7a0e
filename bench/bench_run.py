"""Benchmark of the run engine against the emulator in its own process (prints figures; not a test).

Side by side in one process and against one emulator:
1. throughput and client CPU per request: `bedrock-evals run` (zero latency profile) vs a raw boto3 Converse
   loop at the same concurrency; targets: harness >= 0.7x the raw rate, CPU/request <= 1.5x;
2. timing accuracy: with a fixed injected latency (and TTFT on a streaming card) at concurrency 32, measured
   e2e latency minus the injected one at p50 (target <= 1 ms) and p99 (target <= 5 ms), at the cards' own
   latencies and at ten times faster, with `transport.processes` 1 and 2, and once without `load.ramp_s`;
3. open loop: Poisson arrivals at 100 requests/s for 30 s; achieved rate within 2 % and send-lag p99 <= 5 ms.

Usage: .venv/bin/python bench/bench_run.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import resource
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config

from evals.cli import main as cli_main
from evals.emulator import Emulator, EmulatorOptions
from evals.gcpause import freeze_startup_objects

MODEL = "us.meta.llama4-maverick-17b-instruct-v1:0"
STREAM_MODEL = "us.meta.llama3-3-70b-instruct-v1:0"
# Quotas would cap a throughput benchmark at the card's 800 requests/minute: lift them on both sides.
NO_QUOTA = {"quota_scale": 10_000.0}


def raw_loop(endpoints: dict[str, Any], concurrency: int, total: int, stream_model: str | None = None,
             max_tokens: int = 64, ramp_s: float = 0.0) -> dict[str, Any]:
    """The reference: plain boto3 calls from `concurrency` threads, timed around each call.

    With `stream_model`, ConverseStream to that model, also timing the first content delta (TTFT). A warm-up
    round (two calls per thread) opens the connections first, as the harness's clients are ready before a run.
    Thread k starts at k x ramp_s / concurrency, as the harness's closed loop does with `load.ramp_s`.
    """
    ep = endpoints["regions"]["us-east-1"]
    creds = endpoints["credentials"]
    client = boto3.session.Session(
        aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
        region_name="us-east-1",
    ).client("bedrock-runtime", endpoint_url=ep["http"],
             config=Config(max_pool_connections=concurrency + 4, retries={"mode": "standard", "max_attempts": 3}))

    def call(i: int) -> tuple[float, float | None]:
        messages = [{"role": "user", "content": [{"text": f"What is {i} + {i}? Reply with the number."}]}]
        t0 = time.perf_counter_ns()
        if stream_model is None:
            client.converse(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": max_tokens})
            return (time.perf_counter_ns() - t0) / 1e6, None
        response = client.converse_stream(modelId=stream_model, messages=messages,
                                          inferenceConfig={"maxTokens": max_tokens})
        first = None
        for event in response["stream"]:
            if first is None and "contentBlockDelta" in event:
                first = time.perf_counter_ns()
        done = time.perf_counter_ns()
        return (done - t0) / 1e6, ((first or done) - t0) / 1e6

    def drive(count: int, ramp: float = 0.0) -> list[tuple[float, float | None]]:
        counter = iter(range(count))
        lock = threading.Lock()
        results: list[tuple[float, float | None]] = []
        start = time.perf_counter()

        def worker(k: int) -> None:
            time.sleep(max(start + k * ramp / concurrency - time.perf_counter(), 0.0))
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                results.append(call(i))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    drive(2 * concurrency)
    freeze_startup_objects()  # as a run does: no full collection walks the bench's heap mid-measurement
    cpu0, t0 = time.process_time(), time.perf_counter()
    results = drive(total, ramp_s)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    gc.unfreeze()
    return {"rps": total / wall, "cpu_ms_per_req": cpu / total * 1000,
            "latency_ms": np.array([lat for lat, _ in results]),
            "ttft_ms": np.array([ttft for _, ttft in results if ttft is not None])}


def _cpu_s() -> float:
    """CPU of this process plus its finished children (a run's sender processes end with the run)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def harness_run(endpoints_file: Path, out: Path, *overrides: str) -> tuple[list[dict[str, Any]], float]:
    """One in-process `bedrock-evals run` against the running emulator; returns records and CPU seconds."""
    buf = io.StringIO()
    cpu0 = _cpu_s()
    err = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        code = cli_main(["run", f"target.endpoints_file={endpoints_file}", "run.report=false", "run.progress=false",
                         "transport.client_rate_limit=false", f"run.out_dir={out}", "regions=[us-east-1]",
                         "apis=[converse]", *overrides])
    cpu = _cpu_s() - cpu0
    if code != 0:
        raise SystemExit(f"run failed ({code}): {' '.join(overrides)}\n{err.getvalue()[-2000:]}")
    run_dir = Path(buf.getvalue().strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    return records, cpu


def throughput(records: list[dict[str, Any]]) -> float:
    start = min(r["t_sent_ms"] for r in records)
    end = max(r["t_done_ms"] for r in records)
    return len(records) / ((end - start) / 1000)


def bench_throughput(tmp: Path, concurrency: int, total: int) -> None:
    with Emulator(EmulatorOptions.from_dict({"latency_profile": "zero", "seed": 1, **NO_QUOTA})) as emu:
        ef = emu.endpoints_file
        suite = ["suite=reasoning", f"suite.generator.n={total}", f"suite.sample_size={total}",
                 f"load.concurrency={concurrency}",
                 "suite.params.max_tokens=64"]
        arms = {}
        raw = raw_loop(emu.endpoints, concurrency, total)
        for processes in (1, 2):
            # CPU of a one-request run is the fixed start-up cost (imports, Hydra, suite, sender processes)
            _, cpu_fixed = harness_run(ef, tmp / f"h0-{processes}", "suite=reasoning", "suite.sample_size=1",
                                       f"transport.processes={processes}")
            records, cpu = harness_run(ef, tmp / f"h1-{processes}", *suite, f"transport.processes={processes}")
            ok = [r for r in records if r["status"] == "ok"]
            arms[processes] = (throughput(ok), (cpu - cpu_fixed) / (len(records) - 1) * 1000)
        raw2 = raw_loop(emu.endpoints, concurrency, total)
    r_rps = (raw["rps"] + raw2["rps"]) / 2
    r_cpu = (raw["cpu_ms_per_req"] + raw2["cpu_ms_per_req"]) / 2
    print(f"\n## Throughput, zero-latency emulator, concurrency {concurrency}, {total} requests")
    print("| loop | requests/s | client CPU ms/request | ratio to raw: rate (target >= 0.7x), CPU (target <= 1.5x) |")
    print("|---|---|---|---|")
    print(f"| raw boto3 converse (mean of 2, before and after) | {r_rps:.0f} | {r_cpu:.3f} | |")
    for processes, (h_rps, h_cpu) in arms.items():
        print(f"| bedrock-evals run, transport.processes={processes} | {h_rps:.0f} | {h_cpu:.3f} "
              f"| {h_rps / r_rps:.2f}x, {h_cpu / r_cpu:.2f}x |")


@dataclass(frozen=True)
class TimingCase:
    """One timing-accuracy case: the emulator's fixed latencies and the closed loop's ramp."""

    label: str
    total_ms: float
    ttft_ms: float | None = None  # set: ConverseStream on the streaming card, `tokens` output tokens
    tokens: int = 8
    ramp: bool = True  # stagger the workers over the injected latency (`load.ramp_s`)

    @property
    def ramp_s(self) -> float:
        return self.total_ms / 1000 if self.ramp else 0.0


TIMING_CASES = (
    # The cards' own figures: Maverick answers in ~320 ms to the first token and decodes ~115 tokens/s.
    TimingCase("Converse, card-like 500 ms", 500.0),
    TimingCase("ConverseStream, card-like: TTFT 320 ms, 8 tokens at 100/s", 400.0, ttft_ms=320.0),
    # Ten times faster than the model: 640 and 267 requests/s through one client process.
    TimingCase("Converse, stress 50 ms", 50.0),
    TimingCase("ConverseStream, stress: TTFT 40 ms, 8 tokens at 100/s", 120.0, ttft_ms=40.0),
    # Four times the cards' decode rate: 8,500 stream deltas/s, where one client process saturates.
    TimingCase("ConverseStream, heavy: TTFT 40 ms, 32 tokens at 400/s", 120.0, ttft_ms=40.0, tokens=32),
    # What the ramp is for: workers started together stay in lock-step and their completions queue.
    TimingCase("Converse, card-like 500 ms, no ramp", 500.0, ramp=False),
)


def bench_timing(tmp: Path, concurrency: int, total: int, cases: tuple[TimingCase, ...] = TIMING_CASES) -> None:
    """Measured minus injected latency, for the harness and for a raw boto3 loop against the same emulator.

    The raw loop's excess is what the emulator, boto3 and the machine add; the harness's own error is the
    difference between the two rows. Both arms stagger their workers the same way.
    """
    print(f"\n## Timing accuracy, fixed injected latency, concurrency {concurrency}, {total} requests")
    print("| case | metric (injected) | raw boto3 p50 / p99 | bedrock-evals run p50 / p99 | same, "
          "transport.processes=2 |")
    print("|---|---|---|---|---|")
    for n, case in enumerate(cases):
        opts: dict[str, Any] = {"latency_profile": "fixed", "fixed_latency_ms": case.total_ms, "seed": 1, **NO_QUOTA}
        stream = case.ttft_ms is not None
        if stream:
            opts["fixed_ttft_ms"] = case.ttft_ms
        late_p99 = []  # the emulator's own lateness per arm (warm-ups included): its share of the excess
        with Emulator(EmulatorOptions.from_dict(opts)) as emu:
            emu.reset()
            raw = raw_loop(emu.endpoints, concurrency, total, stream_model=STREAM_MODEL if stream else None,
                           max_tokens=case.tokens, ramp_s=case.ramp_s)
            late_p99.append(emu.stats()["first_write_late_ms"]["p99"])
            model = ["model=llama3-3-70b", "apis=[converse_stream]"] if stream else ["apis=[converse]"]
            arms = []
            for processes in (1, 2):
                emu.reset()
                # warm-up as the raw loop's (two per worker), flagged in the records and left out here
                records, _ = harness_run(emu.endpoints_file, tmp / f"timing-{n}-{processes}", *model,
                                         "suite=reasoning", f"suite.generator.n={total}", f"suite.sample_size={total}",
                                         f"load.concurrency={concurrency}", f"load.ramp_s={case.ramp_s}",
                                         f"load.warmup_requests={2 * concurrency}",
                                         f"suite.params.max_tokens={case.tokens}", f"transport.processes={processes}")
                arms.append([r for r in records if r["status"] == "ok" and not r["warmup"]])
                late_p99.append(emu.stats()["first_write_late_ms"]["p99"])
        metrics = [("e2e", "latency_ms", case.total_ms)]
        if stream:
            metrics.insert(0, ("TTFT", "ttft_ms", case.ttft_ms))
        for what, field_name, inject in metrics:
            cells = []
            for values in (raw[field_name], *(np.array([r[field_name] for r in ok]) for ok in arms)):
                p50, p99 = np.percentile(values - inject, [50, 99])
                cells.append(f"{p50:+.2f} / {p99:+.2f} ms ({len(values)})")
            print(f"| {case.label} | {what} ({inject:.0f} ms) | {' | '.join(cells)} |")
        print(f"| {case.label} | emulator's own lateness, p99 of {'first tokens' if stream else 'answers'} | "
              + " | ".join(f"+{late:.2f} ms" for late in late_p99) + " |")


def bench_poisson(tmp: Path, rate: float, duration: float) -> None:
    with Emulator(EmulatorOptions.from_dict({"latency_profile": "realistic", "latency_scale": 0.2, "seed": 1,
                                                 **NO_QUOTA})) as emu:
        records, _ = harness_run(emu.endpoints_file, tmp / "poisson", "load=poisson", f"load.rate={rate}",
                                 f"load.duration_s={duration}", "suite=reasoning", "suite.generator.n=500",
                                 "suite.sample_size=500", "suite.params.max_tokens=32")
    def rate_of(field: str) -> float:
        times = np.array(sorted(r[field] for r in records))
        return (len(times) - 1) / ((times[-1] - times[0]) / 1000)

    achieved, scheduled = rate_of("t_sent_ms"), rate_of("t_intended_ms")
    lag = np.array([r["send_lag_ms"] for r in records])
    print(f"\n## Open loop: Poisson {rate:.0f} requests/s for {duration:.0f} s (realistic profile x0.2)")
    print("| requests | achieved rate | vs target | the seeded schedule's own rate | send-lag p50 | send-lag p99 "
          "| errors |")
    print("|---|---|---|---|---|---|---|")
    errors = sum(r["status"] != "ok" for r in records)
    print(f"| {len(records)} | {achieved:.1f}/s | {achieved / rate - 1:+.2%} (target within 2 %) "
          f"| {scheduled:.1f}/s (achieved {achieved / scheduled - 1:+.3%}) "
          f"| {np.percentile(lag, 50):.2f} ms | {np.percentile(lag, 99):.2f} ms (target <= 5 ms) | {errors} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke check of the bench itself)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bench_throughput(tmp, concurrency=8, total=500 if args.quick else 3000)
        bench_timing(tmp, concurrency=32, total=200 if args.quick else 1000)
        bench_poisson(tmp, rate=100.0, duration=5.0 if args.quick else 30.0)


if __name__ == "__main__":
    main()
