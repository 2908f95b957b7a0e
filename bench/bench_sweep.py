"""Benchmark of a 4-job sweep (two regions x two APIs) with the basic, joblib and Ray launchers (figures, not a test).

Each arm is the real CLI (`bedrock-evals run -m ...`) in a subprocess, timed from start to exit, so the figure
includes what a user waits for: Python and Hydra start-up, validating every job, the jobs' reports and the merged
report. All jobs send to one emulator started here (fixed latency), as jobs would all send to Bedrock. The Ray
arms: `ray (starts Ray)` includes starting a local Ray (what `hydra/launcher=ray` does without RAY_ADDRESS);
`ray (joins Ray)` joins a Ray started once before the rounds (RAY_ADDRESS), as on a running cluster.
Arms run interleaved, round after round; the table gives each arm's median and its ratio to the basic launcher
measured in the same rounds: the machine is shared, so only side-by-side ratios mean much.

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

from evals.emulator import Emulator, EmulatorOptions

RAY = ["hydra/launcher=ray"]
ARMS: dict[str, list[str]] = {
    "basic": [],
    "joblib (n_jobs=2)": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "ray (starts Ray)": [*RAY, "+hydra.launcher.ray.init.num_cpus=2"],
    "ray (joins Ray)": RAY,
}
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}  # as in tests/test_sweep_ray.py
RAY_HOST = """
import sys, ray
ctx = ray.init(num_cpus=2, include_dashboard=False)
print(ctx.address_info["gcs_address"], flush=True)
sys.stdin.read()
"""


def sweep_args(endpoints_file: Path, requests: int, out_dir: Path) -> list[str]:
    """The same sweep for every arm: 4 jobs of `requests` requests each at concurrency 2."""
    return ["regions=[us-east-1],[us-west-2]", "apis=[converse],[invoke]", "suite=reasoning",
            f"suite.sample_size={requests}", "load.concurrency=2", f"target.endpoints_file={endpoints_file}",
            "run.progress=false", f"run.out_dir={out_dir}"]


def time_arm(extra: list[str], args: list[str], ray_address: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(LOOPBACK)
    if extra == RAY:
        env["RAY_ADDRESS"] = ray_address
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
    fixed = {"latency_profile": "fixed", "fixed_latency_ms": opts.latency_ms}
    host = subprocess.Popen([sys.executable, "-c", RAY_HOST], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, **LOOPBACK})
    try:
        assert host.stdout is not None
        ray_address = host.stdout.readline().strip()
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, \
                Emulator(EmulatorOptions.from_dict(fixed)) as emu:
            for round_no in range(opts.rounds):
                for arm, extra in ARMS.items():
                    args = sweep_args(emu.endpoints_file, opts.requests, Path(tmp) / f"r{round_no}")
                    times[arm].append(time_arm(extra, args, ray_address))
                    print(f"round {round_no + 1}: {arm:<22} {times[arm][-1]:6.1f} s", flush=True)
    finally:
        assert host.stdin is not None
        host.stdin.close()
        host.wait(timeout=60)
    base = statistics.median(times["basic"])
    print(f"\n4 jobs x {opts.requests} requests, fixed {opts.latency_ms:g} ms, concurrency 2; "
          f"{opts.rounds} interleaved rounds; {os.cpu_count()} CPUs")
    print(f"{'launcher':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'vs basic':>9}")
    for arm, values in times.items():
        med = statistics.median(values)
        print(f"{arm:<22} {med:9.1f} {min(values):7.1f} {max(values):7.1f} {med / base:8.2f}x")


if __name__ == "__main__":
    main()
