"""The metrics that compare, gate and history talk about, and how one metric is compared between two arms.

One definition per metric (which records count, which value, which way is better) so that the comparison
report, the CI gate and the history index can never disagree about what "latency p90" or "error rate" means.
The statistics themselves come from `evals.stats`; this module only chooses the method:

- latency-like values (latency, TTFT, tokens/s, cost): run-level Welch on per-run summaries when both arms
  hold at least two runs (cloud latency drifts between runs, so the run is the independent unit); otherwise
  request level, paired by item when both arms ran the same items (geometric-mean metrics only; quantiles
  use a two-sample bootstrap).
- rates (errors, throttles): pooled counts, Newcombe interval and Fisher's exact test.
- scores (accuracy): paired by item when the arms share items (repeats and runs averaged per item, the item
  being the unit), exact McNemar for 0/1 scores and a paired bootstrap otherwise; unpaired otherwise.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from scipy import stats as sps

from evals import stats
from evals.stats import Comparison, Direction, MarginKind, Scale

Record = Mapping[str, Any]

# items shared by both arms, as a share of each arm's items, needed before pairing by item
PAIRING_OVERLAP = 0.9
# bootstrap resamples for quantile ratios and paired score differences (seeded, so results are repeatable)
N_RESAMPLES = 4999
BOOTSTRAP_SEED = 20261125


class Kind(StrEnum):
    """How a metric's values are compared."""

    CONTINUOUS = "continuous"  # positive per-request values; ratio of a summary (geomean or quantile)
    RATE = "rate"  # per-request 0/1 events over all measured requests; difference of proportions
    SCORE = "score"  # per-request scores in [0, 1]; difference of means, paired by item when possible


@dataclass(frozen=True)
class Metric:
    """A metric: which value a record contributes (None: the record does not count) and how it is compared."""

    name: str
    label: str
    kind: Kind
    direction: Direction
    unit: str
    value: Callable[[Record], float | None]
    summary: str = "mean"  # geomean | p50 | p90 | mean (rates and scores)

    @property
    def margin_kind(self) -> MarginKind:
        return MarginKind.RELATIVE if self.kind is Kind.CONTINUOUS else MarginKind.ABSOLUTE

    @property
    def quantile(self) -> float | None:
        return {"p50": 0.5, "p90": 0.9}.get(self.summary)


def _ok_positive(field: str) -> Callable[[Record], float | None]:
    def value(rec: Record) -> float | None:
        if rec.get("status") != "ok":
            return None
        v = rec.get(field)
        return float(v) if isinstance(v, int | float) and v > 0 else None

    return value


def _tokens_per_s(rec: Record) -> float | None:
    """Output tokens per second of end-to-end latency: what a caller of one request experiences."""
    if rec.get("status") != "ok":
        return None
    tokens, latency = rec.get("output_tokens"), rec.get("latency_ms")
    if not tokens or not latency or tokens <= 0 or latency <= 0:
        return None
    return float(tokens) / (float(latency) / 1000.0)


def _error(rec: Record) -> float:
    return 1.0 if rec.get("status") == "error" else 0.0


def _throttled(rec: Record) -> float:
    return 1.0 if (rec.get("throttles") or 0) > 0 else 0.0


def _score(rec: Record) -> float | None:
    """Scores of answered requests only: a failed request is counted in the error rate, never as wrong."""
    if rec.get("status") != "ok":
        return None
    s = rec.get("score")
    return float(s) if isinstance(s, int | float) and not math.isnan(s) else None


LOWER, HIGHER = Direction.LOWER_IS_BETTER, Direction.HIGHER_IS_BETTER
_latency, _ttft, _cost = _ok_positive("latency_ms"), _ok_positive("ttft_ms"), _ok_positive("cost_usd")

METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "accuracy", Kind.SCORE, HIGHER, "", _score),
    Metric("latency", "latency (geometric mean)", Kind.CONTINUOUS, LOWER, "ms", _latency, "geomean"),
    Metric("latency_p50", "latency p50", Kind.CONTINUOUS, LOWER, "ms", _latency, "p50"),
    Metric("latency_p90", "latency p90", Kind.CONTINUOUS, LOWER, "ms", _latency, "p90"),
    Metric("ttft_p50", "TTFT p50", Kind.CONTINUOUS, LOWER, "ms", _ttft, "p50"),
    Metric("ttft_p90", "TTFT p90", Kind.CONTINUOUS, LOWER, "ms", _ttft, "p90"),
    Metric("error_rate", "error rate", Kind.RATE, LOWER, "", _error),
    Metric("throttle_rate", "throttled share", Kind.RATE, LOWER, "", _throttled),
    Metric("tokens_per_s", "output tokens/s per request (geometric mean)", Kind.CONTINUOUS, HIGHER, "tok/s",
           _tokens_per_s, "geomean"),
    Metric("cost_per_request", "cost per request (geometric mean)", Kind.CONTINUOUS, LOWER, "USD", _cost,
           "geomean"),
)}


# ---------------------------------------------------------------------------------------------- summaries


def summarise(metric: Metric, values: Sequence[float]) -> float:
    """The one-arm figure shown beside a comparison (and stored in the history index)."""
    if not values:
        return math.nan
    a = np.asarray(values, dtype=float)
    if metric.summary == "geomean":
        return float(np.exp(np.mean(np.log(a))))
    if metric.quantile is not None:
        return float(np.quantile(a, metric.quantile))
    return float(np.mean(a))


def values_of(metric: Metric, records: Sequence[Record]) -> list[float]:
    out = []
    for rec in records:
        v = metric.value(rec)
        if v is not None:
            out.append(v)
    return out


def _by(records: Sequence[Record], metric: Metric, key: str) -> dict[Any, list[float]]:
    groups: dict[Any, list[float]] = defaultdict(list)
    for rec in records:
        v = metric.value(rec)
        if v is not None:
            groups[rec.get(key)].append(v)
    return groups


def _run_summary(metric: Metric) -> Callable[[np.ndarray], float]:
    """Per-run summary on the log scale, as `stats.run_level_ratio` expects."""
    q = metric.quantile
    if q is None:
        return stats.log_geomean
    return lambda a: float(np.log(np.quantile(a, q)))


# ---------------------------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class MetricComparison:
    """One metric, one matched cell: both arms' figures and the comparison candidate vs baseline."""

    metric: Metric
    base_value: float
    cand_value: float
    n_base: int
    n_cand: int
    comparison: Comparison
    unit_of_analysis: str  # requests | items (paired) | runs

    @property
    def mde(self) -> float:
        """The comparison's minimum detectable effect, or one derived from its interval's width when the
        comparison gives none (quantile bootstrap) or a degenerate one (a proportion of 0 in both arms)."""
        c = self.comparison
        degenerate = math.isnan(c.mde) or c.mde == c.null  # e.g. no MDE for a bootstrap, or p = 0 for rates
        if not degenerate or not c.available or math.isnan(c.low) or math.isnan(c.high) or c.high <= c.low:
            return c.mde
        z = float(sps.norm.ppf(0.5 + c.confidence / 2))
        z_sum = float(sps.norm.ppf(0.975) + sps.norm.ppf(0.8))
        if c.scale is Scale.RATIO:
            if c.low <= 0:
                return math.nan
            se = (math.log(c.high) - math.log(c.low)) / (2 * z)
            return math.exp(z_sum * se)
        return z_sum * (c.high - c.low) / (2 * z)

    def mde_beyond(self, margin: float) -> bool:
        """True when the smallest detectable effect is larger than `margin` (too few samples to tell)."""
        mde = self.mde
        if math.isnan(mde):
            return True
        effect = mde - 1.0 if self.comparison.scale is Scale.RATIO else abs(mde)
        return effect > margin


# ---------------------------------------------------------------------------------------------- pairing
# The one definition of "paired by item" for compare, gate and the run report (`evals.render.report.comparisons`).


def items_of(records: Sequence[Record], value: Callable[[Record], float | None]) -> dict[Any, list[float]]:
    """The values of each item (`sample_id`) over all its repeats, runs and sweep levels."""
    groups: dict[Any, list[float]] = defaultdict(list)
    for rec in records:
        v = value(rec)
        if v is not None:
            groups[rec.get("sample_id")].append(v)
    return groups


def paired_items(base: Mapping[Any, Sequence[float]], cand: Mapping[Any, Sequence[float]]) -> list[Any] | None:
    """Items to pair on, or None when the arms did not run (nearly) the same items: at least 2 shared items,
    and at least PAIRING_OVERLAP of each arm's items shared."""
    common = [k for k in base if k in cand and k is not None]
    if len(common) < 2 or len(common) < PAIRING_OVERLAP * max(len(base), len(cand)):
        return None
    return sorted(common, key=str)


@dataclass(frozen=True)
class ItemPairs:
    """One summary per item and arm, in the same item order: the item is the unit of a paired test."""

    items: list[Any]
    base: np.ndarray
    cand: np.ndarray

    @property
    def binary(self) -> bool:
        return bool(np.isin(self.base, (0.0, 1.0)).all() and np.isin(self.cand, (0.0, 1.0)).all())


def pair_by_item(base: Sequence[Record], cand: Sequence[Record], value: Callable[[Record], float | None],
                 summary: str = "mean") -> ItemPairs | None:
    """Pair two arms by item: each item's values averaged over its repeats and runs (`mean`, for scores) or
    their geometric mean (`geomean`, for latency-like values); None when the arms share too few items."""
    bx, by = items_of(base, value), items_of(cand, value)
    common = paired_items(bx, by)
    if common is None:
        return None
    if summary == "geomean":
        def avg(v: Sequence[float]) -> float:
            return float(np.exp(np.mean(np.log(v))))
    elif summary == "mean":
        def avg(v: Sequence[float]) -> float:
            return float(np.mean(v))
    else:
        raise ValueError(f"unknown item summary {summary!r}")
    return ItemPairs(common, np.array([avg(bx[k]) for k in common]), np.array([avg(by[k]) for k in common]))


def paired_score_comparison(pairs: ItemPairs, confidence: float = 0.95) -> Comparison:
    """Scores paired by item: exact McNemar when every item's averaged score is 0 or 1, else a paired bootstrap."""
    if pairs.binary:
        return stats.paired_proportion_diff(pairs.base, pairs.cand, confidence)
    return stats.paired_bootstrap_diff(pairs.base, pairs.cand, confidence, seed=BOOTSTRAP_SEED,
                                       n_resamples=N_RESAMPLES)


def unpaired_score_comparison(xs: Sequence[float], ys: Sequence[float], confidence: float = 0.95) -> Comparison:
    """Scores of arms that did not run the same items: difference of proportions for 0/1 scores, Welch t else."""
    ax, ay = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if np.isin(ax, (0.0, 1.0)).all() and np.isin(ay, (0.0, 1.0)).all():
        return stats.proportion_diff(int(ax.sum()), ax.size, int(ay.sum()), ay.size, confidence)
    return _welch_mean_diff(ax, ay, confidence)


def _welch_mean_diff(x: np.ndarray, y: np.ndarray, confidence: float) -> Comparison:
    """Difference of means y - x of non-binary scores on different items (scipy's Welch t-test)."""
    method = "welch-t"
    if x.size < 2 or y.size < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        from evals.stats.results import unavailable_comparison

        return unavailable_comparison(Scale.DIFFERENCE, method, x.size, y.size, "needs 2+ varying values per arm",
                                      estimate=float(y.mean() - x.mean()) if x.size and y.size else math.nan,
                                      confidence=confidence)
    res = {alt: sps.ttest_ind(y, x, equal_var=False, alternative=alt) for alt in ("two-sided", "greater", "less")}
    ci = res["two-sided"].confidence_interval(confidence)
    lo1 = res["greater"].confidence_interval(confidence).low
    hi1 = res["less"].confidence_interval(confidence).high
    mde = stats.minimum_detectable_effect(math.sqrt(x.var(ddof=1) + y.var(ddof=1)), min(x.size, y.size))
    return Comparison(float(y.mean() - x.mean()), float(ci.low), float(ci.high), float(lo1), float(hi1),
                      float(res["two-sided"].pvalue), float(res["greater"].pvalue), float(res["less"].pvalue),
                      Scale.DIFFERENCE, method, x.size, y.size, confidence, mde)


def _exact(estimate: float, scale: Scale, method: str, n_x: int, n_y: int, confidence: float) -> Comparison:
    """Values that do not vary (e.g. identical costs per item) leave no uncertainty: the estimate is exact."""
    null = 1.0 if scale is Scale.RATIO else 0.0
    p_greater = 0.0 if estimate > null else 1.0
    p_less = 0.0 if estimate < null else 1.0
    return Comparison(estimate, estimate, estimate, estimate, estimate, min(p_greater, p_less), p_greater, p_less,
                      scale, f"{method} (no variation: exact)", n_x, n_y, confidence, mde=null,
                      note="values do not vary; the estimate is exact")


def _constant(*arrays: Sequence[float]) -> bool:
    return all(len(a) >= 2 and np.ptp(np.asarray(a, dtype=float)) == 0 for a in arrays)


def compare_metric(
    metric: Metric, base: Sequence[Record], cand: Sequence[Record], confidence: float = 0.95,
    run_level: bool | None = None,
) -> MetricComparison:
    """Compare one metric between baseline and candidate records of one matched cell.

    `run_level=None` chooses run-level analysis for continuous metrics when both arms span 2+ runs
    (records carry `run_id`).
    """
    xs, ys = values_of(metric, base), values_of(metric, cand)
    bx, by = summarise(metric, xs), summarise(metric, ys)

    def result(c: Comparison, unit: str) -> MetricComparison:
        return MetricComparison(metric, bx, by, len(xs), len(ys), c, unit)

    if metric.kind is Kind.RATE:
        kx, ky = round(sum(xs)), round(sum(ys))
        return result(stats.proportion_diff(kx, len(xs), ky, len(ys), confidence), "requests")

    if metric.kind is Kind.SCORE:
        pairs = pair_by_item(base, cand, metric.value, "mean")
        if pairs is not None:
            n = len(pairs.items)
            return MetricComparison(metric, bx, by, n, n, paired_score_comparison(pairs, confidence),
                                    "items (paired)")
        return result(unpaired_score_comparison(xs, ys, confidence), "requests")

    runs_x = {k: v for k, v in _by(base, metric, "run_id").items() if len(v) >= 2}
    runs_y = {k: v for k, v in _by(cand, metric, "run_id").items() if len(v) >= 2}
    if run_level is None:
        run_level = len(runs_x) >= 2 and len(runs_y) >= 2
    if run_level:
        c = stats.run_level_ratio(list(runs_x.values()), list(runs_y.values()), confidence, _run_summary(metric))
        if not c.available and _constant(xs, ys):
            c = _exact(by / bx, Scale.RATIO, c.method, c.n_x, c.n_y, confidence)
        return MetricComparison(metric, bx, by, len(runs_x), len(runs_y), c, "runs")
    if metric.quantile is not None:
        if _constant(xs, ys):
            return result(_exact(by / bx, Scale.RATIO, "quantile-ratio", len(xs), len(ys), confidence), "requests")
        c = stats.quantile_ratio_bootstrap(xs, ys, metric.quantile, confidence, seed=BOOTSTRAP_SEED,
                                           n_resamples=N_RESAMPLES)
        return result(c, "requests")
    pairs = pair_by_item(base, cand, metric.value, "geomean")
    if pairs is not None:
        # each item's geometric mean (over repeats and runs), the item being the unit
        n = len(pairs.items)
        c = stats.paired_log_ratio(pairs.base, pairs.cand, confidence)
        d = np.log(pairs.cand) - np.log(pairs.base)
        if not c.available and _constant(d):
            c = _exact(float(np.exp(d[0])), Scale.RATIO, c.method, n, n, confidence)
        return MetricComparison(metric, bx, by, n, n, c, "items (paired)")
    c = stats.latency_ratio(xs, ys, confidence)
    if not c.available and _constant(xs, ys):
        c = _exact(by / bx, Scale.RATIO, c.method, len(xs), len(ys), confidence)
    return result(c, "requests")
