"""Why the summary intervals cover what they cover under correlated requests: coverage split by the branch of
`evals.stats.dependent.mean_variance` each run's interval took, on the synthetic runs of bench/gate_sim.py.

The batch-means variance is max(2 V_B - V_2B, V_B, s^2/n): the Richardson step (on `richardson_df` = 1.5 df at
B = 5) when it exceeds V_B, else V_B (B - 1 df), floored at the independent-requests variance. For every run
this prints which branch was taken, and per branch: share of runs, coverage of the truth and the mean half-width,
beside the half-width a known variance would give (1.96 x the run-to-run sd of the estimate). Figures: output
tokens/s (the report's bins over the steady window, `dependent.mean_interval`) and latency p50/p90
(`dependent.quantile_interval`, branch = that of the design effect of `quantile_bounds`). Truth: the mean of the
tokens/s estimate and the pooled quantiles over `--truth-runs` other runs of the same suite.

    .venv/bin/python bench/bench_batch_means.py --runs 2000

With --alternatives, the tokens/s coverage of other variance estimates on the same series (none adopted; see
docs/gate.md): V_B alone on B - 1 df; one critical value for the estimate actually used (fixed-b: the 97.5 %
point of Z / sqrt(max(R, V_B)) under independent batches); the Richardson step only after an F test of
half-batch pairs; the Satterthwaite df of s^2/n (n - 1 df) plus the excess; overlapping batch means with the
Richardson step always, or with today's selection, on the df of their quadratic form (tr(A)^2 / tr(A^2));
three batches on 2 df; sectioning on the log scale (as the quantiles' third interval), alone and in union
with today's.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from functools import cache

import numpy as np
from gate_sim import Change, Condition, Runs, Suite, simulate
from scipy import stats

from evals.stats import dependent
from evals.stats.throughput import MAX_BINS, steady_window

CONDITIONS = {
    "iid": Condition("iid"),
    "drift6": Condition("drift6", drift_sd=0.06, slow_factor=1.5),
    "drift10": Condition("drift10", drift_sd=0.10, slow_factor=2.0),
    "storms": Condition("storms", storm_rate_per_s=1 / 150),
    "drift6-noslow": Condition("drift6-noslow", drift_sd=0.06),  # drift without the slow periods
    "drift10-noslow": Condition("drift10-noslow", drift_sd=0.10),
}
DEFAULT = "iid,drift6,drift10,storms"
LEVEL = 0.025


def token_bins(r: Runs, i: int) -> np.ndarray:
    """Output tokens/s per time bin over the steady window, as `throughput_interval` cuts it (one session)."""
    sent, done = r.t_sent[i], r.t_done[i]
    window = steady_window(sent, done)
    cycle = float((done - sent).mean())
    bins = min(MAX_BINS, int(window.seconds // cycle))
    edges = np.linspace(window.start, window.end, bins + 1)
    tokens, _ = np.histogram(done[r.ok[i]], bins=edges, weights=r.output_tokens[i][r.ok[i]])
    return tokens / (window.seconds / bins)


def _obm(x: np.ndarray, m: int) -> float:
    """Overlapping batch means of length m: unbiased for s^2/n under independence (E = sigma^2 (1/m - 1/n) k)."""
    n = x.size
    cs = np.concatenate([[0.0], np.cumsum(x)])
    w = (cs[m:] - cs[:-m]) / m
    return float(((w - x.mean()) ** 2).sum()) / (w.size * (1 / m - 1 / n) * n)


@cache
def _obm_df(n: int, m: int, richardson: bool) -> float:
    """Satterthwaite df tr(A)^2 / tr(A^2) of the quadratic form of an OBM estimate under independence."""
    def form(mm: int) -> np.ndarray:
        k = n - mm + 1
        c = np.zeros((k, n))
        for i in range(k):
            c[i, i:i + mm] = 1 / mm
        c -= 1 / n
        return (c.T @ c) / (k * (1 / mm - 1 / n) * n)
    a = 2 * form(m) - form(m // 2) if richardson else form(m)
    return float(np.trace(a) ** 2 / np.trace(a @ a))


@cache
def _fixed_b_critical(b: int) -> float:
    """97.5 % point of Z / sqrt(max(2 V_B - V_2B, V_B)) with independent normal half-batches (Monte Carlo)."""
    rng = np.random.default_rng(1)
    h = rng.normal(size=(400_000, 2 * b))
    vb = ((h[:, 0::2] + h[:, 1::2]) / 2).var(axis=1, ddof=1) / b
    v2b = h.var(axis=1, ddof=1) / (2 * b)
    w = np.maximum(2 * vb - v2b, vb) * 2 * b
    return float(np.quantile(np.abs(rng.normal(size=w.size)) / np.sqrt(w), 0.95))


def alternatives(x: np.ndarray, b: int = dependent.BATCHES) -> dict[str, tuple[float, float]]:
    """(distance below, distance above the mean) of each alternative interval of the mean."""
    n = x.size
    iid = float(x.var(ddof=1)) / n
    h = dependent.batch_means(x, 2 * b)
    vb = float(dependent.batch_means(x, b).var(ddof=1)) / b
    v2b = float(h.var(ddof=1)) / (2 * b)
    rich = 2 * vb - v2b
    sel, sel_df = (rich, dependent.richardson_df(b)) if rich > vb else (vb, b - 1.0)
    pairs = (h[0::2] + h[1::2]) / 2
    f = 2 * float(((pairs - pairs.mean()) ** 2).sum()) / (b - 1) / (float(((h[0::2] - h[1::2]) ** 2).sum()) / 2 / b)
    tested = (sel, sel_df) if stats.f.sf(f, b - 1, b) < 0.05 else (vb, b - 1.0)
    excess = max(sel, iid) - iid
    mix_df = (iid + excess) ** 2 / (iid**2 / (n - 1) + excess**2 / sel_df)
    m = n // b
    o_rich, o_one = 2 * _obm(x, m) - _obm(x, m // 2), _obm(x, m)
    o_sel = (o_rich, _obm_df(n, m, True)) if o_rich > o_one else (o_one, _obm_df(n, m, False))
    t = stats.t.isf
    symmetric = {
        "V_B alone, B - 1 df": (max(vb, iid), t(LEVEL, b - 1)),
        "fixed-b critical value of max(R, V_B)": (max(sel, iid), _fixed_b_critical(b)),
        "Richardson step after an F test (a = 0.05)": (max(tested[0], iid), t(LEVEL, tested[1])),
        "Satterthwaite df of s^2/n + excess": (iid + excess, t(LEVEL, mix_df)),
        "OBM, Richardson step always": (max(o_rich, iid), t(LEVEL, _obm_df(n, m, True))),
        "OBM, today's selection": (max(o_sel[0], iid), t(LEVEL, o_sel[1])),
        "3 batches, 2 df, no floor": (float(dependent.batch_means(x, 3).var(ddof=1)) / 3, t(LEVEL, 2)),
    }
    out = {label: (c * math.sqrt(v), c * math.sqrt(v)) for label, (v, c) in symmetric.items()}
    today = t(LEVEL, sel_df) * math.sqrt(max(sel, iid))
    below, above = _log_sections(x, b)
    out["sectioning on the log scale (as the quantiles)"] = (below, above)
    out["union of today's and sectioning on the log scale"] = (max(today, below), max(today, above))
    return out


def _log_sections(x: np.ndarray, b: int) -> tuple[float, float]:
    """(below, above the mean) of the interval exp(log mean -/+ t sqrt(V)), V from the log rates of b time
    sections with the Richardson step against 2b, floored at the independent-bins variance (relative)."""
    m = float(x.mean())
    lb = np.log(np.maximum(dependent.batch_means(x, b), 1e-9))
    l2 = np.log(np.maximum(dependent.batch_means(x, 2 * b), 1e-9))
    v, df = dependent.richardson(float(lb.var(ddof=1)) / b, float(l2.var(ddof=1)) / (2 * b), b)
    h = stats.t.isf(LEVEL, df) * math.sqrt(max(v, float(x.var(ddof=1)) / x.size / m**2))
    return m * -math.expm1(-h), m * math.expm1(h)


def branch(x: np.ndarray) -> str:
    """Which estimate `mean_variance` used for the series x."""
    mv = dependent.mean_variance(x)
    iid = float(x.var(ddof=1)) / x.size
    if mv.variance <= iid * (1 + 1e-12):
        return "independent floor"
    return "Richardson (1.5 df)" if mv.df < mv.batches - 1 else "batch means (B-1 df)"


def one_condition(cond: Condition, runs: int, truth_runs: int, with_alternatives: bool = False
                  ) -> dict[str, dict[str, list[tuple[bool, float]]]]:
    suite = Suite(600)
    ref = simulate(suite, cond, Change(), truth_runs, 8, seed=10_000_019)
    lat = ((ref.t_done - ref.t_sent) * 1000)[ref.ok]
    truth = {"p50": float(np.quantile(lat, 0.5)), "p90": float(np.quantile(lat, 0.9)),
             "tokens/s": float(np.mean([token_bins(ref, i).mean() for i in range(truth_runs)]))}
    out: dict[str, dict[str, list[tuple[bool, float]]]] = {f: defaultdict(list) for f in truth}
    estimates: dict[str, list[float]] = defaultdict(list)
    r = simulate(suite, cond, Change(), runs, 8, seed=4242)
    for i in range(runs):
        x = token_bins(r, i)
        iv = dependent.mean_interval(x)
        estimates["tokens/s"].append(iv.estimate)
        out["tokens/s"][branch(x)].append((iv.low <= truth["tokens/s"] <= iv.high, (iv.high - iv.low) / 2))
        if with_alternatives:
            for label, (below, above) in alternatives(x).items():
                covers = iv.estimate - below <= truth["tokens/s"] <= iv.estimate + above
                out["tokens/s"]["alt: " + label].append((covers, (below + above) / 2))
        order = np.argsort(r.t_sent[i], kind="stable")
        ms = ((r.t_done[i] - r.t_sent[i]) * 1000)[order][r.ok[i][order]]
        for name, q in (("p50", 0.5), ("p90", 0.9)):
            qiv = dependent.quantile_interval(ms, q)
            qb = dependent.quantile_bounds(ms, q, np.array([LEVEL]))
            b = ("independent (deff <= 1)" if not math.isfinite(qb.df)
                 else "Richardson (1.5 df)" if qb.df < dependent.BATCHES - 1 else "batch means (B-1 df)")
            estimates[name].append(qiv.estimate)
            out[name][b].append((qiv.available and qiv.low <= truth[name] <= qiv.high, (qiv.high - qiv.low) / 2))
    for name, est in estimates.items():
        out[name]["_known variance: 1.96 x sd"] = [(True, 1.96 * float(np.std(est)))]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--truth-runs", type=int, default=400)
    p.add_argument("--conditions", default=DEFAULT, help=f"comma-separated, of {', '.join(CONDITIONS)}")
    p.add_argument("--alternatives", action="store_true", help="tokens/s coverage of other variance estimates")
    args = p.parse_args()
    started = time.monotonic()
    print("| condition | figure | branch | runs | covers | mean half-width |\n|---|---|---|---|---|---|")
    for name in [n for n in args.conditions.split(",") if n]:
        res = one_condition(CONDITIONS[name], args.runs, args.truth_runs, args.alternatives)
        for fig, branches in res.items():
            total = [c for k, v in branches.items() if not k.startswith(("_", "alt")) for c, _ in v]
            print(f"| {name} | {fig} | all | {len(total)} | {np.mean(total):.1%} | |")
            for b, v in sorted(branches.items(), key=lambda kv: (kv[0][0] == "_", kv[0][:3] == "alt", kv[0])):
                a = np.array(v, dtype=float)
                share = "" if b.startswith(("_", "alt")) else f"{len(v)} ({len(v) / len(total):.0%})"
                cov = "" if b.startswith("_") else f"{a[:, 0].mean():.1%}"
                print(f"| {name} | {fig} | {b.lstrip('_')} | {share} | {cov} | {a[:, 1].mean():.1f} |")
    print(f"\n{time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
