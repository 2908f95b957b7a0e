"""What the gate measures in one cell: records of both arms turned into arrays, then into `Bounds`.

The choices that keep verdicts honest live here, once:
- always the common items: both arms are cut to the items both ran, and the number dropped is reported;
- latency quantiles are time-to-success: a failed request counts as +inf (it never succeeded), so failing fast
  or timing out cannot look faster; the survivors-only figure is kept beside it, labelled;
- rates count every measured request; geometric-mean metrics pair the items both arms answered;
- accuracy pairs the items both arms scored, clustered by the suite's `cluster` (an item when it has none);
- send order is kept (run by run, by `t_sent_ms`), because the uncertainty comes from batches over send time;
- with `min_runs` or more runs in each arm, latency-like metrics are compared run by run (Welch).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evals.stats import effects
from evals.stats.dependent import BATCHES
from evals.stats.margin import Bounds, unavailable

Record = Mapping[str, Any]
QUANTILES = {"latency_p50": ("latency_ms", 0.5), "latency_p90": ("latency_ms", 0.9),
             "ttft_p50": ("ttft_ms", 0.5), "ttft_p90": ("ttft_ms", 0.9)}
RATES = {"error_rate": lambda r: r.get("status") == "error",
         "throttle_rate": lambda r: (r.get("throttles") or 0) > 0}


def _positive(rec: Record, key: str) -> float | None:
    v = rec.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and v > 0 else None


def _tokens_per_s(rec: Record) -> float | None:
    tokens, latency = _positive(rec, "output_tokens"), _positive(rec, "latency_ms")
    return tokens / (latency / 1000) if tokens and latency else None


GEOMEANS: dict[str, Callable[[Record], float | None]] = {
    "latency": lambda r: _positive(r, "latency_ms"),
    "tokens_per_s": _tokens_per_s,
    "cost_per_request": lambda r: _positive(r, "cost_usd"),
}
METRIC_NAMES = ("accuracy", *QUANTILES, *RATES, *GEOMEANS)


@dataclass(frozen=True)
class Measured:
    """One metric in one cell: both arms' figures and the comparison's bounds."""

    metric: str
    base_value: float
    cand_value: float
    bounds: Bounds
    unit: str  # requests | items (paired) | runs
    survivor: tuple[float, float] | None = None  # quantile of successful requests only, (base, cand)

    @property
    def applicable(self) -> bool:
        return self.bounds.n_base > 0 or self.bounds.n_cand > 0


def send_order(records: Sequence[Record]) -> list[Record]:
    """Records in send order, run by run (each run has its own clock)."""
    runs: dict[Any, list[Record]] = defaultdict(list)
    for rec in records:
        runs[rec.get("run_id")].append(rec)
    out: list[Record] = []
    for recs in runs.values():
        out += sorted(recs, key=lambda r: float(r["t_sent_ms"]) if isinstance(r.get("t_sent_ms"), int | float)
                      else math.inf)
    return out


def common_items(base: Sequence[Record], cand: Sequence[Record]) -> tuple[list[Record], list[Record], int]:
    """Both arms cut to the items both ran; the third value counts the records dropped from either arm."""
    ids_b, ids_c = {r.get("sample_id") for r in base}, {r.get("sample_id") for r in cand}
    keep = ids_b & ids_c
    b, c = [r for r in base if r.get("sample_id") in keep], [r for r in cand if r.get("sample_id") in keep]
    return b, c, len(base) - len(b) + len(cand) - len(c)


def _time_to_success(records: Sequence[Record], key: str) -> np.ndarray:
    """`key` of successful requests, +inf for failed ones; requests without the field (TTFT of a
    non-streaming API) are left out."""
    out = []
    for rec in records:
        if rec.get("status") != "ok":
            out.append(math.inf)
        else:
            v = _positive(rec, key)
            if v is not None:
                out.append(v)
    return np.asarray(out, dtype=float)


def _has_field(records: Sequence[Record], key: str) -> bool:
    return any(_positive(r, key) is not None for r in records)


def _runs_of(records: Sequence[Record]) -> dict[Any, list[Record]]:
    runs: dict[Any, list[Record]] = defaultdict(list)
    for rec in records:
        runs[rec.get("run_id")].append(rec)
    return runs


def _quantile_of(values: np.ndarray, q: float) -> float:
    finite_ok = values.size > 0
    return float(np.sort(values)[max(math.ceil(values.size * q), 1) - 1]) if finite_ok else math.nan


def measure_quantile(metric: str, base: Sequence[Record], cand: Sequence[Record], levels: np.ndarray,
                     min_runs: int, batches: int = BATCHES) -> Measured:
    key, q = QUANTILES[metric]
    b, c, dropped = common_items(base, cand)
    if not (_has_field(b, key) or _has_field(c, key)):
        return Measured(metric, math.nan, math.nan, unavailable("", levels, 0, 0, "no values"), "requests")
    xs, ys = _time_to_success(send_order(b), key), _time_to_success(send_order(c), key)
    survivor = (_quantile_of(xs[np.isfinite(xs)], q), _quantile_of(ys[np.isfinite(ys)], q))
    bounds = None
    rb, rc = _runs_of(b), _runs_of(c)
    if len(rb) >= min_runs and len(rc) >= min_runs:
        per_b = [_quantile_of(_time_to_success(r, key), q) for r in rb.values()]
        per_c = [_quantile_of(_time_to_success(r, key), q) for r in rc.values()]
        if all(math.isfinite(v) for v in per_b + per_c):
            bounds = effects.run_level_log_ratio(np.log(per_b), np.log(per_c), levels)
    unit = "runs" if bounds is not None else "requests"
    if bounds is None:
        bounds = effects.quantile_log_ratio(xs, ys, q, levels, batches)
    bounds = _with_dropped(bounds, dropped)
    return Measured(metric, _quantile_of(xs, q), _quantile_of(ys, q), bounds, unit, survivor)


def _with_dropped(bounds: Bounds, dropped: int) -> Bounds:
    return Bounds(bounds.estimate, bounds.levels, bounds.lower, bounds.upper, bounds.method, bounds.uncertainty,
                  bounds.n_base, bounds.n_cand, bounds.dropped + dropped, bounds.note)


def measure_rate(metric: str, base: Sequence[Record], cand: Sequence[Record], levels: np.ndarray,
                 batches: int = BATCHES) -> Measured:
    b, c, dropped = common_items(base, cand)
    event = RATES[metric]
    ex = np.array([event(r) for r in send_order(b)], dtype=float)
    ey = np.array([event(r) for r in send_order(c)], dtype=float)
    bounds = _with_dropped(effects.rate_difference(ex, ey, levels, batches), dropped)
    return Measured(metric, float(ex.mean()) if ex.size else math.nan, float(ey.mean()) if ey.size else math.nan,
                    bounds, "requests")


def _per_item(records: Sequence[Record], value: Callable[[Record], float | None], log: bool
              ) -> dict[Any, tuple[float, float, Any]]:
    """item -> (mean value over its repeats and runs (geometric when `log`), mean send position, cluster)."""
    vals: dict[Any, list[float]] = defaultdict(list)
    pos: dict[Any, list[int]] = defaultdict(list)
    cluster: dict[Any, Any] = {}
    for i, rec in enumerate(send_order(records)):
        v = value(rec) if rec.get("status") == "ok" else None
        if v is None:
            continue
        item = rec.get("sample_id")
        vals[item].append(math.log(v) if log else v)
        pos[item].append(i)
        cluster.setdefault(item, rec.get("cluster") or item)
    return {k: (float(np.mean(v)), float(np.mean(pos[k])), cluster[k]) for k, v in vals.items()}


def measure_geomean(metric: str, base: Sequence[Record], cand: Sequence[Record], levels: np.ndarray,
                    min_runs: int, batches: int = BATCHES) -> Measured:
    value = GEOMEANS[metric]
    ib, ic = _per_item(base, value, True), _per_item(cand, value, True)
    common = sorted(set(ib) & set(ic), key=str)
    dropped = len(ib) + len(ic) - 2 * len(common)
    if not common:
        n = len(ib) + len(ic)
        return Measured(metric, math.nan, math.nan, unavailable("", levels, len(ib), len(ic),
                        "no item answered in both arms" if n else "no values"), "items (paired)")
    lx = np.array([ib[k][0] for k in common])
    ly = np.array([ic[k][0] for k in common])
    bx, by = math.exp(float(lx.mean())), math.exp(float(ly.mean()))
    rb, rc = _runs_of(base), _runs_of(cand)
    if metric == "latency" and len(rb) >= min_runs and len(rc) >= min_runs:
        keep = set(common)
        per_b = [_log_geomean(r, value, keep) for r in rb.values()]
        per_c = [_log_geomean(r, value, keep) for r in rc.values()]
        bounds = _with_dropped(effects.run_level_log_ratio(per_b, per_c, levels), dropped)
        return Measured(metric, bx, by, bounds, "runs")
    bounds = effects.paired_log_ratio(np.exp(lx), np.exp(ly), [ib[k][1] for k in common],
                                      [ic[k][1] for k in common], levels, dropped, batches)
    return Measured(metric, bx, by, bounds, "items (paired)")


def _log_geomean(records: Sequence[Record], value: Callable[[Record], float | None], keep: set[Any]) -> float:
    vals = [value(r) for r in records if r.get("status") == "ok" and r.get("sample_id") in keep]
    logs = [math.log(v) for v in vals if v is not None]
    return float(np.mean(logs)) if logs else math.nan


def _score(rec: Record) -> float | None:
    s = rec.get("score")
    return float(s) if isinstance(s, int | float) and not isinstance(s, bool) and not math.isnan(s) else None


def measure_accuracy(base: Sequence[Record], cand: Sequence[Record], levels: np.ndarray) -> Measured:
    ib, ic = _per_item(base, _score, False), _per_item(cand, _score, False)
    common = sorted(set(ib) & set(ic), key=str)
    dropped = len(ib) + len(ic) - 2 * len(common)
    if not common:
        note = "no item scored in both arms" if ib or ic else "no values"
        return Measured("accuracy", math.nan, math.nan, unavailable("", levels, len(ib), len(ic), note),
                        "items (paired)")
    x = np.array([ib[k][0] for k in common])
    y = np.array([ic[k][0] for k in common])
    clusters = [str(ib[k][2]) for k in common]
    bounds = effects.clustered_difference(x, y, clusters, levels, dropped)
    return Measured("accuracy", float(x.mean()), float(y.mean()), bounds, "items (paired)")


def measure(metric: str, base: Sequence[Record], cand: Sequence[Record], levels: np.ndarray, min_runs: int,
            batches: int = BATCHES) -> Measured:
    """Bounds of one metric in one cell, candidate against baseline."""
    if metric in QUANTILES:
        return measure_quantile(metric, base, cand, levels, min_runs, batches)
    if metric in RATES:
        return measure_rate(metric, base, cand, levels, batches)
    if metric in GEOMEANS:
        return measure_geomean(metric, base, cand, levels, min_runs, batches)
    if metric == "accuracy":
        return measure_accuracy(base, cand, levels)
    raise ValueError(f"unknown metric {metric!r}")


def successes(records: Sequence[Record]) -> int:
    return sum(1 for r in records if r.get("status") == "ok")
