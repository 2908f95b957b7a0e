"""One-arm summaries with their intervals: the figures a report cell, a sweep level or a headline level shows.

The metric registry (`evals.results.metrics`) says which records count for a metric; this module says how one
set of records is summarised on its own, so no page computes a percentile or an accuracy of its own:

- distributions (latency, TTFT, server latency, send lag, ...): p50/p90/p99 with the order-statistic interval
  widened for correlated requests (`evals.stats.dependent.quantile_interval`), over values in send order; with
  MIN_RUNS or more runs, from the spread of the per-run quantiles instead (run level: drift between runs);
- accuracy or mean score of scored successful requests: Wilson for independent 0/1 scores, cluster-robust
  when several scores share an item or passage, a BCa bootstrap (t beyond BOOTSTRAP_CAP values) otherwise;
- rates (errors, throttles): Clopper-Pearson over every measured request at the design-effect count (storms);
- inter-token latency: each streamed request's mean gap first, then across requests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from evals.results.metrics import METRICS, Metric
from evals.results.table import RecordTable
from evals.stats import Interval, bootstrap_mean_interval, clustered_mean_interval, quantile_label, wilson_interval
from evals.stats.dependent import MIN_RUNS, quantile_estimate, quantile_interval, rate_bounds, run_level_interval
from evals.stats.intervals import min_n_for_quantile
from evals.stats.results import NAN

QUANTILES = (0.5, 0.9, 0.99)
BOOTSTRAP_CAP = 2000  # above this many values a mean's interval is the plain t interval (CLT holds; the
# bootstrap would hold n x 9999 resamples in memory)
STREAMING_APIS = ("converse_stream", "invoke_stream")
RATE_METHOD = "Clopper-Pearson at the design-effect count (batch means over send time)"


def ok_values(field: str) -> Callable[[RecordTable], np.ndarray]:
    """`field` of successful requests (NaN elsewhere): a figure of answered requests."""
    return lambda table: np.where(table.ok, table.num(field), np.nan)


def any_values(field: str) -> Callable[[RecordTable], np.ndarray]:
    """`field` of every measured request that has it (send lag is a property of sending, failed or not)."""
    return lambda table: table.num(field)


# distribution name -> the value each record contributes (NaN: it does not count)
DISTRIBUTIONS: dict[str, Callable[[RecordTable], np.ndarray]] = {
    "latency_ms": METRICS["latency_p50"].values,
    "ttft_ms": METRICS["ttft_p50"].values,
    "tpot_ms": ok_values("tpot_ms"),
    "server_latency_ms": ok_values("server_latency_ms"),
    "client_overhead_ms": ok_values("client_overhead_ms"),
    "send_lag_ms": any_values("send_lag_ms"),
}


def run_rank(table: RecordTable) -> np.ndarray:
    """Each row's run as the rank of its run id among the ids (a null id first): runs in id order."""
    runs = table.label("run_id")
    rank = np.empty(len(runs.values) + 1, dtype=np.int64)
    rank[np.argsort(np.asarray(runs.values, dtype=object), kind="stable")] = np.arange(len(runs.values))
    rank[-1] = -1  # code -1 (null) reads the last entry
    return rank[runs.codes]


def send_order(table: RecordTable) -> np.ndarray:
    """Row order run by run (runs by id), each run's rows by send time (unsent first, as at time 0); stable.

    The order the intervals' batches over send time follow."""
    if len(table) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.lexsort((np.nan_to_num(table.num("t_sent_ms"), nan=0.0), run_rank(table)))


def quantiles(values_in_send_order: np.ndarray, runs: np.ndarray | None = None) -> dict[str, Interval] | None:
    """p50/p90/p99 with intervals widened by the design effect of correlated requests, or run level (`runs`:
    each value's run, in the same order, grouped); None without values."""
    if values_in_send_order.size == 0:
        return None
    return {quantile_label(q): quantile_of_runs(values_in_send_order, q, runs) for q in QUANTILES}


def quantile_of_runs(values_in_send_order: np.ndarray, q: float, runs: np.ndarray | None) -> Interval:
    """The pooled q-quantile. Its interval is run level (the spread of the per-run log quantiles) with MIN_RUNS
    or more runs, each holding enough values for the quantile and finite there; else within-run
    (`quantile_interval`: batch means and sectioning over send time, which cannot see drift between runs)."""
    parts = _by_run(values_in_send_order, runs)
    if len(parts) < MIN_RUNS:
        return quantile_interval(values_in_send_order, q)
    if min(p.size for p in parts) < min_n_for_quantile(q):
        why = f"{len(parts)} runs, but one has too few values for a per-run {quantile_label(q)}"
    else:
        iv = run_level_interval([quantile_estimate(p, q) for p in parts],
                                quantile_estimate(values_in_send_order, q), log=True)
        if iv.available:
            return iv
        why = f"{len(parts)} runs, but a run's {quantile_label(q)} lies beyond its successes"
    within = quantile_interval(values_in_send_order, q)
    return replace(within, note=_joined(within.note, f"{why}: within-run interval"))


def _by_run(values: np.ndarray, runs: np.ndarray | None) -> list[np.ndarray]:
    """`values` cut where `runs` changes (values in send order, run by run)."""
    if runs is None or runs.size == 0:
        return [values] if values.size else []
    starts = np.flatnonzero(runs[1:] != runs[:-1]) + 1
    return np.split(values, starts)


def _joined(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def counted(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def distributions(table: RecordTable, names: Sequence[str], order: np.ndarray | None = None,
                  replicates: bool = True) -> dict[str, dict[str, Interval] | None]:
    """The quantiles of each named distribution (`DISTRIBUTIONS`); `order` is `send_order(table)` when known.
    `replicates`: the table's runs repeat one configuration, so 3+ of them give run-level intervals (not so for
    the runs of a sweep, each at its own load)."""
    order = send_order(table) if order is None else order
    return {name: quantiles(*_counted_by_run(DISTRIBUTIONS[name](table), table, order, replicates))
            for name in names}


def quantile_figure(metric: Metric, table: RecordTable) -> Interval | None:
    """A quantile metric's (latency_p50, ttft_p50, ...) one-arm figure and interval; None without values."""
    if metric.quantile is None:
        raise ValueError(f"{metric.name} is not a quantile metric")
    values, runs = _counted_by_run(metric.values(table), table, send_order(table), True)
    return quantile_of_runs(values, metric.quantile, runs) if values.size else None


def _counted_by_run(values: np.ndarray, table: RecordTable, order: np.ndarray, replicates: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(the values that count, in send order; each one's run, or one run for all when they are not replicates)."""
    ordered = values[order]
    present = ~np.isnan(ordered)
    runs = run_rank(table)[order] if replicates else np.zeros(order.size, dtype=np.int64)
    return ordered[present], runs[present]


def mean_interval(values: np.ndarray) -> Interval:
    """BCa bootstrap for up to BOOTSTRAP_CAP values, the plain standard-error t interval beyond."""
    if values.size <= BOOTSTRAP_CAP:
        return bootstrap_mean_interval(values)
    return clustered_mean_interval(values)


def rate(metric: Metric, table: RecordTable) -> Interval:
    """A rate metric (error_rate, throttle_rate) over every record that counts: Clopper-Pearson at the
    design-effect count (`dependent.rate_bounds`, the gate's arm bounds), since errors and throttles come in
    storms; the exact binomial interval when they do not cluster in time."""
    v = counted(metric.values(table)[send_order(table)])
    if v.size == 0:
        return Interval(NAN, NAN, NAN, RATE_METHOD, 0, 0.95, False, "no observations")
    b = rate_bounds(v, np.array([0.025]))
    note = f"design effect {b.design_effect:.1f}: errors cluster in time" if b.design_effect > 1 else ""
    return Interval(b.rate, float(b.lower[0]), float(b.upper[0]), RATE_METHOD, b.n, 0.95, True, note)


@dataclass(frozen=True)
class ScoreSummary:
    """Accuracy (0/1 scores) or mean score of scored successful requests, with its interval and what it is over."""

    interval: Interval
    kind: str  # accuracy | mean score
    clusters: int
    repeats: float
    correct: float
    clipped: bool


def _cluster_ids(table: RecordTable, rows: np.ndarray) -> np.ndarray:
    """Each row's cluster (its `cluster`, else its item) as an integer that sorts as the texts do."""
    cluster, item = table.label("cluster"), table.label("sample_id")
    names = sorted(set(cluster.values) | set(item.values))
    rank = {name: i for i, name in enumerate(names)}
    c_ids = np.array([rank[v] for v in cluster.values] + [-1], dtype=np.int64)[cluster.codes[rows]]
    i_ids = np.array([rank[v] for v in item.values] + [-1], dtype=np.int64)[item.codes[rows]]
    return np.where(c_ids >= 0, c_ids, i_ids)


def score(table: RecordTable) -> ScoreSummary | None:
    """The accuracy metric's one-arm figure: scores of successful requests (a failure is an error, never
    wrong); None when nothing was scored."""
    values = METRICS["accuracy"].values(table)
    rows = np.flatnonzero(~np.isnan(values))
    if rows.size == 0:
        return None
    scores = values[rows]
    clusters = _cluster_ids(table, rows)
    n_clusters = int(np.unique(clusters).size)
    binary = bool(np.isin(scores, (0.0, 1.0)).all())
    if n_clusters < scores.size:
        iv: Interval = clustered_mean_interval(scores, clusters)
    elif binary:
        iv = wilson_interval(int(scores.sum()), int(scores.size))
    else:
        iv = mean_interval(scores)
    clipped = bool(iv.available) and (iv.low < 0.0 or iv.high > 1.0)
    return ScoreSummary(iv, "accuracy" if binary else "mean score", n_clusters, scores.size / n_clusters,
                        float(scores.sum()), clipped)


@dataclass(frozen=True)
class ItlSummary:
    """Inter-token latency: per streamed request its mean gap, then the mean and quantiles across requests."""

    n_requests: int
    n_gaps: int
    skipped: int
    mean: Interval
    quantiles: dict[str, Interval]


def itl(table: RecordTable, order: np.ndarray | None = None) -> ItlSummary | None:
    """Over successful requests with gaps (the same two steps as `evals.stats.itl_summary`, on the per-request
    means the reader keeps); `skipped` counts successful requests without gaps. None when none has gaps."""
    order = send_order(table) if order is None else order
    ok = order[table.ok[order]]
    gaps = np.nan_to_num(table.num("itl_gaps")[ok])
    with_gaps = ok[gaps > 0]
    if with_gaps.size == 0:
        return None
    means = table.num("itl_mean_ms")[with_gaps]
    return ItlSummary(int(means.size), int(gaps.sum()), int(ok.size - with_gaps.size), mean_interval(means),
                      quantiles(means) or {})


def finite_mean(values: np.ndarray) -> float | None:
    v = counted(values)
    return float(v.mean()) if v.size and math.isfinite(float(v.mean())) else None
