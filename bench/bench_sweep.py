"""Benchmark of a 4-job sweep (two regions x two APIs) with the basic, joblib and Ray launchers (figures, not a test).

Each arm is the real CLI (`bedrock-evals run -m ...`) in a subprocess, timed from start to exit, so the figure
includes what a user waits for: Python and Hydra start-up, validating every job, each job's own emulator,
Ray's start-up (a local Ray started by the driver, as `hydra/launcher=ray` does without RAY_ADDRESS), the jobs'
reports and the merged report. Arms run interleaved, round after round, and the table gives each arm's median
and its ratio to the basic launcher measured in the same rounds: the machine is shared, so only side-by-side
ratios mean much.

Usage: .venv/bin/python bench/bench_sweep.py [--rounds N] [--latency-ms MS] [--requests N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS: dict[str, list[str]] = {
    "basic": [],
    "joblib (n_jobs=2)": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "ray (local, 2 CPUs)": ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"],
}


def sweep_args(latency_ms: float, requests: int, out_dir: Path) -> list[str]:
    """The same sweep for every arm: 4 jobs, each `requests` requests at concurrency 2 with a fixed latency."""
    return ["regions=[us-east-1],[us-west-2]", "apis=[converse],[invoke]", "suite=reasoning",
            f"suite.sample_size={requests}", "load.concurrency=2", "target.latency_profile=fixed",
            f"target.fixed_latency_ms={latency_ms}", "run.progress=false", f"run.out_dir={out_dir}"]


def time_arm(extra: list[str], args: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local Ray, started by the driver
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "evals.cli", "run", "-m", *extra, *args], env=env,
                          capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sweep failed ({' '.join(extra) or 'basic'}):\n{done.stderr[-2000:]}")
    if "jobs: 4 done, 0 not done" not in done.stdout:
        raise SystemExit(f"sweep did not finish its 4 jobs:\n{done.stdout[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=250.0)
    parser.add_argument("--requests", type=int, default=20, help="requests per job")
    opts = parser.parse_args()
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        for round_no in range(opts.rounds):
            for arm, extra in ARMS.items():
                out = Path(tmp) / f"r{round_no}"
                times[arm].append(time_arm(extra, sweep_args(opts.latency_ms, opts.requests, out)))
                print(f"round {round_no + 1}: {arm:<22} {times[arm][-1]:6.1f} s", flush=True)
    base = statistics.median(times["basic"])
    print(f"\n4 jobs x {opts.requests} requests, fixed {opts.latency_ms:g} ms, concurrency 2; "
          f"{opts.rounds} interleaved rounds; {os.cpu_count()} CPUs")
    print(f"{'launcher':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'vs basic':>9}")
    for arm, values in times.items():
        med = statistics.median(values)
        print(f"{arm:<22} {med:9.1f} {min(values):7.1f} {max(values):7.1f} {med / base:8.2f}x")


if __name__ == "__main__":
    main()
