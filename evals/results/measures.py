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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evals.results.metrics import METRICS, ok_positive, scores
from evals.results.table import RecordTable
from evals.stats import effects
from evals.stats.dependent import BATCHES
from evals.stats.margin import Bounds, unavailable

Values = Callable[[RecordTable], np.ndarray]  # one value per record, NaN where the record does not count
QUANTILES = {"latency_p50": ("latency_ms", 0.5), "latency_p90": ("latency_ms", 0.9),
             "ttft_p50": ("ttft_ms", 0.5), "ttft_p90": ("ttft_ms", 0.9)}
# which records count and with what value is the registry's; these name the metrics each comparison serves
RATES: dict[str, Values] = {name: METRICS[name].values for name in ("error_rate", "throttle_rate")}
GEOMEANS: dict[str, Values] = {name: METRICS[name].values for name in ("latency", "tokens_per_s", "cost_per_request")}
METRIC_NAMES = ("accuracy", *QUANTILES, *RATES, *GEOMEANS)
# timing metrics, which the weather of each run moves: judged run by run with min_runs+ runs per arm (cost is
# tokens times prices, the same whenever it ran, so it stays paired by item)
RUN_LEVEL = ("latency", "tokens_per_s")
# the record fields the engine reads (a run is read with just these for compare and gate)
FIELDS = ("status", "latency_ms", "ttft_ms", "cost_usd", "output_tokens", "throttles", "score", "sample_id",
          "cluster", "t_sent_ms")


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


def send_order(table: RecordTable) -> RecordTable:
    """Records in send order, run by run (each run has its own clock; runs in order of first appearance)."""
    runs = table.label("run_id").codes
    _, first = np.unique(runs, return_index=True)
    run_rank = np.empty(int(runs.max(initial=0)) + 1, dtype=np.int64)
    run_rank[runs[np.sort(first)]] = np.arange(first.size)
    sent = np.nan_to_num(table.num("t_sent_ms"), nan=math.inf)
    return table.take(np.lexsort((sent, run_rank[runs])) if len(table) else np.arange(0))


def common_items(base: RecordTable, cand: RecordTable) -> tuple[RecordTable, RecordTable, int]:
    """Both arms cut to the items both ran; the third value counts the records dropped from either arm."""
    ib, ic = base.label("sample_id"), cand.label("sample_id")
    keep = set(ib.present()) & set(ic.present())
    kb = ib.isin(keep) | ((ib.codes < 0) & (ic.codes < 0).any())
    kc = ic.isin(keep) | ((ic.codes < 0) & (ib.codes < 0).any())
    b, c = (base, cand) if kb.all() and kc.all() else (base.take(kb), cand.take(kc))
    return b, c, len(base) - len(b) + len(cand) - len(c)


def _time_to_success(table: RecordTable, key: str) -> np.ndarray:
    """`key` of successful requests, +inf for failed ones; requests without the field (TTFT of a
    non-streaming API) are left out."""
    v = ok_positive(table, key)
    v[~table.ok] = math.inf
    return v[~np.isnan(v)]


def _has_field(table: RecordTable, key: str) -> bool:
    return bool((~np.isnan(ok_positive(table, key))).any())


def _runs_of(table: RecordTable) -> list[RecordTable]:
    return [table.take(rows) for _, rows in table.groups(("run_id",))]


def _quantile_of(values: np.ndarray, q: float) -> float:
    """The order statistic at rank ceil(n q) (a failed request's +inf sorts last)."""
    if values.size == 0:
        return math.nan
    k = max(math.ceil(values.size * q), 1) - 1
    return float(np.partition(values, k)[k])


def measure_quantile(metric: str, base: RecordTable, cand: RecordTable, levels: np.ndarray,
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
        per_b = [_quantile_of(_time_to_success(r, key), q) for r in rb]
        per_c = [_quantile_of(_time_to_success(r, key), q) for r in rc]
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


def measure_rate(metric: str, base: RecordTable, cand: RecordTable, levels: np.ndarray,
                 batches: int = BATCHES) -> Measured:
    b, c, dropped = common_items(base, cand)
    event = RATES[metric]
    ex, ey = event(send_order(b)), event(send_order(c))
    bounds = _with_dropped(effects.rate_difference(ex, ey, levels, batches), dropped)
    return Measured(metric, float(ex.mean()) if ex.size else math.nan, float(ey.mean()) if ey.size else math.nan,
                    bounds, "requests")


@dataclass(frozen=True)
class PerItem:
    """Each item's mean value over its repeats and runs (of logs when log-scaled), its mean send position and
    its cluster (the item itself when it has none)."""

    mean: dict[str, float]
    position: dict[str, float]
    cluster: dict[str, str]


def _per_item(table: RecordTable, value: Values, log: bool) -> PerItem:
    ordered = send_order(table)
    v = value(ordered)
    v[~ordered.ok] = np.nan
    codes = ordered.label("sample_id").codes
    keep = ~np.isnan(v) & (codes >= 0)
    pos = np.flatnonzero(keep).astype(float)
    codes, v = codes[keep], v[keep]
    if codes.size == 0:
        return PerItem({}, {}, {})
    width = len(ordered.label("sample_id").values)
    counts = np.bincount(codes, minlength=width)
    sums = np.bincount(codes, weights=np.log(v) if log else v, minlength=width)
    pos_sums = np.bincount(codes, weights=pos, minlength=width)
    present, first = np.unique(codes, return_index=True)
    first_row = np.flatnonzero(keep)[first]
    names, clusters = ordered.label("sample_id").values, ordered.label("cluster")
    mean, position, cluster = {}, {}, {}
    for c, row in zip(present.tolist(), first_row.tolist(), strict=True):
        name = names[c]
        mean[name] = float(sums[c] / counts[c])
        position[name] = float(pos_sums[c] / counts[c])
        cluster[name] = clusters.at(row) or name
    return PerItem(mean, position, cluster)


def measure_geomean(metric: str, base: RecordTable, cand: RecordTable, levels: np.ndarray,
                    min_runs: int, batches: int = BATCHES) -> Measured:
    value = GEOMEANS[metric]
    ib, ic = _per_item(base, value, True), _per_item(cand, value, True)
    common = sorted(set(ib.mean) & set(ic.mean), key=str)
    dropped = len(ib.mean) + len(ic.mean) - 2 * len(common)
    if not common:
        n = len(ib.mean) + len(ic.mean)
        return Measured(metric, math.nan, math.nan, unavailable("", levels, len(ib.mean), len(ic.mean),
                        "no item answered in both arms" if n else "no values"), "items (paired)")
    lx = np.array([ib.mean[k] for k in common])
    ly = np.array([ic.mean[k] for k in common])
    bx, by = math.exp(float(lx.mean())), math.exp(float(ly.mean()))
    rb, rc = _runs_of(base), _runs_of(cand)
    if metric in RUN_LEVEL and len(rb) >= min_runs and len(rc) >= min_runs:
        per_b = [_log_geomean(r, value, common) for r in rb]
        per_c = [_log_geomean(r, value, common) for r in rc]
        bounds = _with_dropped(effects.run_level_log_ratio(per_b, per_c, levels), dropped)
        return Measured(metric, bx, by, bounds, "runs")
    bounds = effects.paired_log_ratio(np.exp(lx), np.exp(ly), [ib.position[k] for k in common],
                                      [ic.position[k] for k in common], levels, dropped, batches)
    return Measured(metric, bx, by, bounds, "items (paired)")


def _log_geomean(table: RecordTable, value: Values, keep: list[str]) -> float:
    v = value(table)
    v = v[table.ok & table.label("sample_id").isin(keep) & ~np.isnan(v)]
    return float(np.mean(np.log(v))) if v.size else math.nan


def measure_accuracy(base: RecordTable, cand: RecordTable, levels: np.ndarray) -> Measured:
    ib, ic = _per_item(base, scores, False), _per_item(cand, scores, False)
    common = sorted(set(ib.mean) & set(ic.mean), key=str)
    dropped = len(ib.mean) + len(ic.mean) - 2 * len(common)
    if not common:
        note = "no item scored in both arms" if ib.mean or ic.mean else "no values"
        return Measured("accuracy", math.nan, math.nan, unavailable("", levels, len(ib.mean), len(ic.mean), note),
                        "items (paired)")
    x = np.array([ib.mean[k] for k in common])
    y = np.array([ic.mean[k] for k in common])
    clusters = [ib.cluster[k] for k in common]
    bounds = effects.clustered_difference(x, y, clusters, levels, dropped)
    return Measured("accuracy", float(x.mean()), float(y.mean()), bounds, "items (paired)")


def measure(metric: str, base: RecordTable, cand: RecordTable, levels: np.ndarray, min_runs: int,
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


def successes(table: RecordTable) -> int:
    return int(table.ok.sum())
