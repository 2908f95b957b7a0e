"""How far the regression gate can be trusted: A/A false FAILs, FAILs inside the margin, power, outages and the
coverage of the summary figures' intervals, on synthetic runs with a known truth (bench/gate_sim.py).

Every pair is two run directories written by the harness's own RunDirectory/RecordWriter and judged by
`evals.commands.gate.run_gate` with the default rules, the code path of `bedrock-evals gate`; outages go through the CLI
entry point itself with `--inconclusive=pass`. Conditions (one cell, 600 items, 8 requests in flight, about
2 minutes per run):

- iid: no drift;
- drift6: log-latency drift of 6 % sd with a 20 s correlation time, and a 15 s x1.5 slow period in half the runs;
- drift10: 10 % drift with a 15 s x2 slow period in half the runs;
- storms: 20 s throttle storms, equally likely in both arms (one per 150 s on average).

Each baseline is gated against candidates: A/A (nothing changed), latency x1.05 (inside the 10 % p50 margin),
x1.10 (exactly at it), x1.2, x1.5, and accuracy -3 points (at the 3-point margin), -5 and -10 points.
Summary-figure coverage: the p50/p90 latency and output tokens/s intervals of summary.json (the report's own
functions) of every baseline run on its own (within-run intervals), and of every three consecutive baselines
reported together (run-level intervals), against the truth of the process (Monte Carlo over 400 other runs).

    .venv/bin/python bench/bench_gate.py --pairs 200 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from gate_sim import Change, Condition, Suite, records, simulate, write_run

from evals import cli
from evals.commands.gate import run_gate
from evals.render.report.cells import percentiles, throughput_json
from evals.results.rules import load_rules
from evals.results.summaries import distributions
from evals.results.table import table_from_dicts
from evals.results.throughput import sessions, throughput
from evals.results.verdicts import exit_code
from evals.stats import wilson_interval

CONDITIONS = {
    "iid": Condition("iid"),
    "drift6": Condition("drift6", drift_sd=0.06, slow_factor=1.5),
    "drift10": Condition("drift10", drift_sd=0.10, slow_factor=2.0),
    "storms": Condition("storms", storm_rate_per_s=1 / 150),
}
CHANGES = {
    "A/A": Change(),
    "latency x1.05": Change(latency=1.05),
    "latency x1.10 (at margin)": Change(latency=1.10),
    "latency x1.2": Change(latency=1.2),
    "latency x1.5": Change(latency=1.5),
    "accuracy -3 (at margin)": Change(accuracy_drop=0.03),
    "accuracy -5": Change(accuracy_drop=0.05),
    "accuracy -10": Change(accuracy_drop=0.10),
}
CONCURRENCY = 8
RUNS_PER_REPORT = 3  # runs reported together for the run-level coverage (the summary's MIN_RUNS)
REPORTED_TOGETHER = f"{RUNS_PER_REPORT} runs: "
CHUNK = 24  # runs per task: whole groups of RUNS_PER_REPORT


def summary_figures(recs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """(low, high) of p50, p90 and output tokens/s as summary.json computes them."""
    table = table_from_dicts(recs)
    lat = percentiles(distributions(table, ("latency_ms",))["latency_ms"]) or {}
    tp = throughput_json(throughput(table, sessions(table)))
    out = {q: (lat[q]["low"], lat[q]["high"]) for q in ("p50", "p90") if lat.get(q, {}).get("available")}
    if tp.get("available") and tp["output_tokens_per_s"]["available"]:
        out["tokens_per_s"] = (tp["output_tokens_per_s"]["low"], tp["output_tokens_per_s"]["high"])
    return out


def truth(cond: Condition, suite: Suite, runs: int = 400) -> dict[str, float]:
    """p50/p90 of successful latency pooled over many runs; tokens/s as the mean of the report's estimate."""
    r = simulate(suite, cond, Change(), runs, CONCURRENCY, seed=10_000_019)
    lat = ((r.t_done - r.t_sent) * 1000)[r.ok]
    tables = [table_from_dicts(records(r, i, f"t{i}", suite)) for i in range(runs)]
    tps = [tp.output_tokens_per_s.estimate if (tp := throughput(t, sessions(t))).output_tokens_per_s else np.nan
           for t in tables]
    return {"p50": float(np.quantile(lat, 0.5)), "p90": float(np.quantile(lat, 0.9)),
            "tokens_per_s": float(np.mean(tps))}


def coverage(runs: list[list[dict[str, Any]]], truth_of: dict[str, float]) -> tuple[Counter[str], Counter[str]]:
    """(covered, seen) per figure: each run's own summary (within-run intervals), and the summary of each
    RUNS_PER_REPORT consecutive runs reported together (run-level intervals); a greyed-out interval counts as
    not covering."""
    covered: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    groups = [("", recs) for recs in runs]
    groups += [(REPORTED_TOGETHER, [r for recs in runs[g:g + RUNS_PER_REPORT] for r in recs])
               for g in range(0, len(runs) - RUNS_PER_REPORT + 1, RUNS_PER_REPORT)]
    for prefix, recs in groups:
        figures = summary_figures(recs)
        for fig in truth_of:
            seen[prefix + fig] += 1
            low, high = figures.get(fig, (None, None))
            covered[prefix + fig] += low is not None and low <= truth_of[fig] <= high
    return covered, seen


def coverage_only(name: str, first: int, count: int, items: int, truth_of: dict[str, float]) -> dict[str, Any]:
    """Only the summary figures' coverage (no gates): `count` baseline runs of one condition."""
    cond, suite = CONDITIONS[name], Suite(items)
    base = simulate(suite, cond, Change(), count, CONCURRENCY, _seed(name, first))
    covered, seen = coverage([records(base, i, f"base-{first + i}", suite) for i in range(count)], truth_of)
    return {"codes": {k: Counter() for k in CHANGES}, "rule_fails": {k: Counter() for k in CHANGES},
            "covered": covered, "seen": seen}


def run_chunk(name: str, first: int, count: int, items: int, truth_of: dict[str, float]) -> dict[str, Any]:
    """`count` pairs of one condition: exit codes per change, failed rules, summary-figure coverage."""
    cond, suite = CONDITIONS[name], Suite(items)
    rules = load_rules()
    seed = _seed(name, first)
    base = simulate(suite, cond, Change(), count, CONCURRENCY, seed)
    cands = {k: simulate(suite, cond, ch, count, CONCURRENCY, seed + 7 + j)
             for j, (k, ch) in enumerate(CHANGES.items())}
    codes: dict[str, Counter[int]] = {k: Counter() for k in CHANGES}
    rule_fails: dict[str, Counter[str]] = {k: Counter() for k in CHANGES}
    baselines = []
    with tempfile.TemporaryDirectory(prefix="bench-gate-", dir=_scratch()) as tmp:
        out = Path(tmp)
        for i in range(count):
            brecs = records(base, i, f"base-{first + i}", suite)
            baselines.append(brecs)
            bdir = write_run(out, f"base-{first + i}", brecs)
            for k in CHANGES:
                cid = f"cand{list(CHANGES).index(k)}-{first + i}"
                cdir = write_run(out, cid, records(cands[k], i, cid, suite))
                result = run_gate([str(bdir)], [str(cdir)], rules)
                codes[k][exit_code(result.checks, rules.inconclusive)] += 1
                rule_fails[k].update(c.spec.name for c in result.checks if c.verdict.value == "FAIL")
                shutil.rmtree(cdir)
            shutil.rmtree(bdir)
    covered, seen = coverage(baselines, truth_of)
    return {"codes": codes, "rule_fails": rule_fails, "covered": covered, "seen": seen}


def _seed(name: str, first: int) -> int:
    """Seed of a chunk: stable across processes (str hash() is salted per process, so counts did not repeat)."""
    return 1000 * first + zlib.crc32(name.encode()) % 997


def _scratch() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


def outages(pairs: int) -> dict[str, Counter[Any]]:
    """Exit codes of outages through the CLI with --inconclusive=pass: none may be 0."""
    suite = Suite(29)
    storm = Condition("outage", storm_rate_per_s=1.0, storm_s=1e6)  # every request inside a storm
    out: dict[str, Counter[Any]] = {"candidate 29/29 throttled": Counter(), "candidate 5/5 throttled": Counter(),
                                    "both arms 100 % throttled": Counter()}
    with tempfile.TemporaryDirectory(prefix="bench-gate-outage-", dir=_scratch()) as tmp:
        for i in range(pairs):
            ok_runs = simulate(suite, Condition("ok"), Change(), 1, 4, seed=i)
            down = simulate(suite, storm, Change(), 2, 4, seed=10_000 + i)
            down.ok[:] = False  # a storm longer than the retries: every request failed
            base = write_run(Path(tmp), f"b{i}", records(ok_runs, 0, f"b{i}", suite))
            dead_b = write_run(Path(tmp), f"db{i}", records(down, 0, f"db{i}", suite))
            dead = write_run(Path(tmp), f"d{i}", records(down, 1, f"d{i}", suite))
            small_b = write_run(Path(tmp), f"sb{i}", records(ok_runs, 0, f"sb{i}", suite)[:5])
            small_d = write_run(Path(tmp), f"sd{i}", records(down, 1, f"sd{i}", suite)[:5])
            for key, (b, c) in zip(list(out)[:3], ((base, dead), (small_b, small_d), (dead_b, dead)), strict=True):
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    out[key][cli.main(["gate", str(b), str(c), "--inconclusive=pass"])] += 1
            for key, value in timeouts(Path(tmp), i).items():
                out.setdefault(key, Counter())[value] += 1
    return out


def timeouts(tmp: Path, i: int) -> dict[str, Any]:
    """The candidate's slowest 10 % fail fast (a timeout that returns at once): the survivors look faster. The
    gate exit code and the verdict of latency_p90 (time to success) under --inconclusive=pass."""
    suite = Suite(600)
    base = simulate(suite, Condition("iid"), Change(), 1, CONCURRENCY, seed=20_000 + i)
    cand = simulate(suite, Condition("iid"), Change(), 1, CONCURRENCY, seed=30_000 + i)
    lat = cand.t_done - cand.t_sent
    slow = lat >= np.quantile(lat, 0.9)
    cand.ok &= ~slow
    cand.t_done = np.where(slow, cand.t_sent + 0.05, cand.t_done)
    b = write_run(tmp, f"tb{i}", records(base, 0, f"tb{i}", suite))
    c = write_run(tmp, f"tc{i}", records(cand, 0, f"tc{i}", suite))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["gate", str(b), str(c), "--inconclusive=pass"])
    p90 = next((line.split()[0] for line in buf.getvalue().splitlines() if " latency_p90 " in f" {line} "), "?")
    return {"candidate's slowest 10 % fail fast: gate exit codes": code,
            "candidate's slowest 10 % fail fast: latency_p90 verdicts": p90}


def rate(k: int, n: int) -> str:
    if n == 0:
        return "n/a"
    iv = wilson_interval(k, n)
    return f"{k}/{n} = {k / n:.1%} ({iv.low:.1%}-{iv.high:.1%})"


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"codes": {k: Counter() for k in CHANGES},
                             "rule_fails": {k: Counter() for k in CHANGES}, "covered": Counter(), "seen": Counter()}
    for p in parts:
        for k in CHANGES:
            total["codes"][k].update(p["codes"][k])
            total["rule_fails"][k].update(p["rule_fails"][k])
        total["covered"].update(p["covered"])
        total["seen"].update(p["seen"])
    return total


def report(results: dict[str, dict[str, Any]], outage: dict[str, Counter[Any]], seconds: float) -> str:
    lines = ["| condition | " + " | ".join(f"{k}: FAIL (exit 1)" for k in CHANGES) + " |",
             "|---|" + "---|" * len(CHANGES)]
    for name, r in results.items():
        n = sum(r["codes"]["A/A"].values())
        lines.append(f"| {name} | " + " | ".join(rate(r["codes"][k][1], n) for k in CHANGES) + " |")
    for prefix, what in (("", "one run per summary (within-run intervals)"),
                         (REPORTED_TOGETHER, f"{RUNS_PER_REPORT} runs per summary (run-level intervals)")):
        lines += ["", f"Coverage, {what}:", "",
                  "| condition | p50 interval covers | p90 interval covers | tokens/s interval covers |",
                  "|---|---|---|---|"]
        for name, r in results.items():
            lines.append(f"| {name} | " + " | ".join(rate(r["covered"][prefix + f], r["seen"][prefix + f])
                                                      for f in ("p50", "p90", "tokens_per_s")) + " |")
    lines += ["", "| outage (gate --inconclusive=pass) | counts |", "|---|---|"]
    lines += [f"| {k} | {dict(sorted(v.items()))} |" for k, v in outage.items()]
    lines += ["", "Failed rules per change: " + "; ".join(
        f"{name}/{k}: {dict(r['rule_fails'][k])}" for name, r in results.items() for k in CHANGES
        if r["rule_fails"][k]), "", f"{seconds:.0f} s"]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=200, help="baselines per condition, each gated against 8 candidates")
    p.add_argument("--items", type=int, default=600)
    p.add_argument("--workers", type=int, default=1, choices=(1, 2))
    p.add_argument("--conditions", default=",".join(CONDITIONS))
    p.add_argument("--outage-pairs", type=int, default=50)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--coverage-only", action="store_true", help="only the summary figures' interval coverage")
    args = p.parse_args()
    started = time.monotonic()
    names = [n for n in args.conditions.split(",") if n]
    truths = {n: truth(CONDITIONS[n], Suite(args.items)) for n in names}
    tasks = [(n, first, min(CHUNK, args.pairs - first), args.items, truths[n]) for n in names
             for first in range(0, args.pairs, CHUNK)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        job = coverage_only if args.coverage_only else run_chunk
        futures = [(t[0], pool.submit(job, *t)) for t in tasks]
        parts: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for n, f in futures:
            parts[n].append(f.result())
            print(f"{n}: {sum(sum(x['codes']['A/A'].values()) for x in parts[n])} pairs "
                  f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    results = {n: merge(parts[n]) for n in names}
    outage = outages(args.outage_pairs) if not args.coverage_only else {}
    text = report(results, outage, time.monotonic() - started)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"truth": truths, "results": {  # counts
            n: {k: {kk: dict(vv) for kk, vv in v.items()} if k in ("codes", "rule_fails") else dict(v)
                for k, v in r.items()}
            for n, r in results.items()}, "outages": {k: dict(v) for k, v in outage.items()}}, indent=2) + "\n",
            encoding="utf-8")
    return 1 if any(v.get(0) for k, v in outage.items() if "exit" in k or "throttled" in k) else 0


if __name__ == "__main__":
    sys.exit(main())
