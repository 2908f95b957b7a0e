"""Speed at scale: `report`, `compare` and `gate` on N-record runs, side by side with `json.loads` of every line.

Writes two synthetic runs of N records each (baseline and a 5 % slower candidate, the record schema in full, short
texts), then runs each step as its own process and reports wall time and peak RSS (`wait4`), and each time as a
ratio to the reference step (`json.loads` of every line of one records.jsonl in one process) measured in the same
invocation, so a shared, noisy machine moves both sides alike. Targets at N = 1,000,000, each under 1 GiB peak RSS:
report without exports within 3x the reference's time, report with its default exports (records.csv and
records.parquet) within 4x; compare and gate on two such runs within 3x.

    python bench/bench_scale.py --records 1000000 [--keep DIR] [--skip compare,gate]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from report_helpers import record, run_info

REFERENCE = "import json,sys\nfor line in open(sys.argv[1], encoding='utf-8'):\n    json.loads(line)\n"
READ = ("import sys\nfrom pathlib import Path\nfrom evals.results.reader import read_table\n"
        "read_table(Path(sys.argv[1]), 'r')\n")
CLI = [sys.executable, "-m", "evals.cli"]


def write_run(parent: Path, run_id: str, n: int, slowdown: float, seed: int) -> Path:
    """N records over 2 regions x 2 APIs, 500 items repeated; latency lognormal, 70 % correct."""
    rng = random.Random(seed)
    run = parent / run_id
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(run_info(run_id, cells={
        "regions": ["us-east-1", "us-west-2"], "apis": ["converse", "invoke"], "tiers": ["default"]})))
    template = record(run_id=run_id, prompt="Question about a topic, asked plainly.", response_text="An answer.")
    with (run / "records.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            region, api = ("us-east-1", "us-west-2")[i % 2], ("converse", "invoke")[(i // 2) % 2]
            lat = rng.lognormvariate(6.0, 0.3) * slowdown
            t = i * 5.0
            ok = rng.random() > 0.01
            fh.write(json.dumps(dict(
                template, request_id=f"r{i}", index=i, sample_id=f"s{(i // 4) % 500}", repeat=i // 2000,
                region=region, api=api, latency_ms=lat, t_sent_ms=t, t_done_ms=t + lat, t_intended_ms=t,
                status="ok" if ok else "error", error_code=None if ok else "ThrottlingException",
                score=float(rng.random() < 0.7) if ok else None), separators=(",", ":")) + "\n")
    return run


def measure(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="write the runs here and keep them")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: report, compare, gate")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        t0 = time.perf_counter()
        base = write_run(root, "base", args.records, 1.0, 1)
        cand = write_run(root, "cand", args.records, 1.05, 2) if not {"compare", "gate"} <= skip else None
        size = (base / "records.jsonl").stat().st_size / 2**20
        print(f"{args.records:,} records per run ({size:,.0f} MiB records.jsonl), written in "
              f"{time.perf_counter() - t0:.0f} s; machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        steps = [("json.loads every line (reference)", [sys.executable, "-c", REFERENCE, str(base / "records.jsonl")]),
                 ("read as columns, every field", [sys.executable, "-c", READ, str(base / "records.jsonl")])]
        if "report" not in skip:
            steps.append(("report (whole process, no exports)", [*CLI, "report", str(base), "--out",
                                                                  str(root / "rep"), "--format", "none"]))
            steps.append(("report (csv + parquet exports)", [*CLI, "report", str(base), "--out", str(root / "rep-x")]))
        if cand is not None and "compare" not in skip:
            steps.append(("compare (two runs)", [*CLI, "compare", str(base), str(cand), "--out", str(root / "cmp")]))
        if cand is not None and "gate" not in skip:
            steps.append(("gate (two runs)", [*CLI, "gate", str(base), str(cand), "--inconclusive", "pass"]))
        print(f"{'step':<40}{'wall s':>9}{'x ref':>8}{'peak RSS MiB':>14}{'exit':>6}")
        ref = None
        for name, argv in steps:
            wall, rss, code = measure(argv)
            ref = ref or wall
            print(f"{name:<40}{wall:>9.1f}{wall / ref:>8.1f}{rss:>14,.0f}{code:>6}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
