"""The gate with several runs per arm (`--runs-per-arm`, default 3: run-level checks), as the CI recipe runs it,
under weather that changes over the job: A/A false FAILs, FAILs inside the margin and power, for runs
interleaved in time (base, cand, base, ...) against runs of one arm after the other (base, base, base, cand, ...).

Every job has 2 x runs-per-arm run slots one after another. Latency is scaled per slot by the stretch of the day
it ran in: a linear trend over the job whose end-to-end size is normal with sd `--day-sd` (the day effect),
times independent per-run weather of sd `--run-sd`, on top of the condition's within-run drift
(bench/gate_sim.py). Each arm's runs are written by the harness's own RunDirectory/RecordWriter and judged by
`evals.commands.gate.run_gate` with the default rules (`min_runs` 3: timing checks at the run level).

    .venv/bin/python bench/bench_gate_runs.py --pairs 200 --workers 2 --conditions drift6,drift10
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from bench_gate import CHANGES as SINGLE_RUN_CHANGES
from bench_gate import CONCURRENCY, CONDITIONS, _scratch, _seed, rate
from gate_sim import Change, Suite, records, simulate, write_run

from evals.commands.gate import run_gate
from evals.results.rules import load_rules
from evals.results.verdicts import exit_code

# the single-run benchmark's candidates, less -5 points (beyond the margin's edge but not a target)
CHANGES = {k: v for k, v in SINGLE_RUN_CHANGES.items() if k != "accuracy -5"}
DESIGNS = ("interleaved", "consecutive")


def slots(design: str, runs_per_arm: int) -> tuple[list[int], list[int]]:
    """(baseline slots, candidate slots) of a job of 2 x runs_per_arm runs one after another."""
    if design == "interleaved":
        return list(range(0, 2 * runs_per_arm, 2)), list(range(1, 2 * runs_per_arm, 2))
    return list(range(runs_per_arm)), list(range(runs_per_arm, 2 * runs_per_arm))


def slot_factors(rng: np.random.Generator, pairs: int, n_slots: int, day_sd: float, run_sd: float) -> np.ndarray:
    """(pairs, n_slots) latency factors: a linear trend over the job (end to end ~ N(0, day_sd)) times weather."""
    trend = rng.normal(0, day_sd, (pairs, 1)) * (np.arange(n_slots) / (n_slots - 1) - 0.5)
    return np.exp(trend + rng.normal(0, run_sd, (pairs, n_slots)))


def run_chunk(name: str, design: str, first: int, count: int, items: int, day_sd: float,
              run_sd: float, runs_per_arm: int = 3) -> dict[str, Any]:
    """`count` jobs of one condition and design: gate exit codes and failed rules per change."""
    cond, suite, rules = CONDITIONS[name], Suite(items), load_rules()
    seed = _seed(name, first)
    factors = slot_factors(np.random.default_rng(seed), count, 2 * runs_per_arm, day_sd, run_sd)
    base_slots, cand_slots = slots(design, runs_per_arm)
    base = [simulate(suite, cond, Change(), count, CONCURRENCY, seed + 1 + k, run_factor=factors[:, s])
            for k, s in enumerate(base_slots)]
    codes: dict[str, Counter[int]] = {k: Counter() for k in CHANGES}
    rule_fails: dict[str, Counter[str]] = {k: Counter() for k in CHANGES}
    uncertainty: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="bench-gate-runs-", dir=_scratch()) as tmp:
        out = Path(tmp)
        for j, (label, change) in enumerate(CHANGES.items()):
            cands = [simulate(suite, cond, change, count, CONCURRENCY, seed + 100 * (j + 1) + k,
                              run_factor=factors[:, s]) for k, s in enumerate(cand_slots)]
            for i in range(count):
                dirs = {arm: [str(write_run(out, rid, records(r, i, rid, suite)))
                              for k, r in enumerate(runs) for rid in [f"{arm}{k}-{j}-{first + i}"]]
                        for arm, runs in (("b", base), ("c", cands))}
                result = run_gate(dirs["b"], dirs["c"], rules)
                codes[label][exit_code(result.checks, rules.inconclusive)] += 1
                rule_fails[label].update(c.spec.name for c in result.checks if c.verdict.value == "FAIL")
                uncertainty.update(f"{c.spec.name}: {c.measured.bounds.uncertainty.value}" for c in result.checks)
                for d in dirs["b"] + dirs["c"]:
                    shutil.rmtree(d)
    return {"codes": codes, "rule_fails": rule_fails, "uncertainty": uncertainty}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=200, help="jobs per condition and design")
    p.add_argument("--items", type=int, default=600)
    p.add_argument("--workers", type=int, default=1, choices=(1, 2))
    p.add_argument("--conditions", default="iid,drift6")
    p.add_argument("--day-sd", type=float, default=0.05, help="sd of the latency trend over a job, end to end")
    p.add_argument("--run-sd", type=float, default=0.02, help="sd of each run's own weather (log latency)")
    p.add_argument("--runs-per-arm", type=int, default=3)
    p.add_argument("--designs", default=",".join(DESIGNS), help=f"comma-separated, of {', '.join(DESIGNS)}")
    args = p.parse_args()
    started = time.monotonic()
    chunk = 25
    tasks = [(n, d, first, min(chunk, args.pairs - first), args.items, args.day_sd, args.run_sd, args.runs_per_arm)
             for n in args.conditions.split(",") if n for d in args.designs.split(",") if d
             for first in range(0, args.pairs, chunk)]
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for task, future in [(t, pool.submit(run_chunk, *t)) for t in tasks]:
            part = future.result()
            total = totals.setdefault(task[:2], {"codes": {k: Counter() for k in CHANGES},
                                                 "rule_fails": {k: Counter() for k in CHANGES},
                                                 "uncertainty": Counter()})
            for k in CHANGES:
                total["codes"][k].update(part["codes"][k])
                total["rule_fails"][k].update(part["rule_fails"][k])
            total["uncertainty"].update(part["uncertainty"])
            print(f"{task[0]} {task[1]}: {task[2] + task[3]} jobs ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr)
    print("| condition | runs | " + " | ".join(CHANGES) + " |\n|---|---|" + "---|" * len(CHANGES))
    for (name, design), total in totals.items():
        n = sum(total["codes"]["A/A"].values())
        print(f"| {name} | {design} | " + " | ".join(rate(total["codes"][k][1], n) for k in CHANGES) + " |")
    print("\nUncertainty used (checks): " + "; ".join(
        f"{name}/{design}: {dict(total['uncertainty'])}" for (name, design), total in totals.items()))
    print("Failed rules per change: " + "; ".join(
        f"{name}/{design}/{k}: {dict(total['rule_fails'][k])}" for (name, design), total in totals.items()
        for k in CHANGES if total["rule_fails"][k]))
    print(f"\n{args.runs_per_arm} runs per arm; day effect sd {args.day_sd:g} (end to end), run weather sd "
          f"{args.run_sd:g}; "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
