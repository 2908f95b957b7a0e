"""The metric registry: for each metric, which records count, how a cell summarises it, its unit and direction.

One definition per metric, read by the terminal table, the report, compare, gate and history, so none of them
computes a p50 or an accuracy of its own. How a metric is paired and tested between two arms is the engine's
(`evals.results.measures`, one function per metric kind; `evals.results.verdicts.judge` decides):

- latency quantiles (latency_p50/p90, ttft_p50/p90): time to success on the items both arms ran (a failed
  request never succeeded), batch means over send time, or Welch on per-run figures with `min_runs`+ runs;
- geometric means (latency, tokens_per_s, cost_per_request): paired per item on the log scale;
- rates (error_rate, throttle_rate): every measured request, exact per-arm bounds;
- accuracy: paired per item, clustered by the suite's cluster key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from evals.results.table import RecordTable
from evals.stats import Direction, MarginKind

# items shared by both arms, as a share of each arm's items, needed before pairing by item
PAIRING_OVERLAP = 0.9


class Kind(StrEnum):
    """How a metric's values are compared."""

    CONTINUOUS = "continuous"  # positive per-request values; ratio of a summary (geomean or quantile)
    RATE = "rate"  # per-request 0/1 events over all measured requests; difference of proportions
    SCORE = "score"  # per-request scores in [0, 1]; difference of means, paired by item when possible


@dataclass(frozen=True)
class Metric:
    """A metric: the value each record contributes (NaN: the record does not count) and how it is compared."""

    name: str
    label: str
    kind: Kind
    direction: Direction
    unit: str
    values: Callable[[RecordTable], np.ndarray]
    summary: str = "mean"  # geomean | p50 | p90 | mean (rates and scores)

    @property
    def margin_kind(self) -> MarginKind:
        return MarginKind.RELATIVE if self.kind is Kind.CONTINUOUS else MarginKind.ABSOLUTE

    @property
    def quantile(self) -> float | None:
        return {"p50": 0.5, "p90": 0.9}.get(self.summary)


def ok_positive(table: RecordTable, field: str) -> np.ndarray:
    """`field` of successful requests where it is positive; NaN elsewhere."""
    v = table.num(field)
    with np.errstate(invalid="ignore"):
        return np.where(table.ok & (v > 0), v, np.nan)


def _ok_positive(field: str) -> Callable[[RecordTable], np.ndarray]:
    return lambda table: ok_positive(table, field)


def tokens_per_s(table: RecordTable) -> np.ndarray:
    """Output tokens per second of end-to-end latency: what a caller of one request experiences."""
    return ok_positive(table, "output_tokens") / (ok_positive(table, "latency_ms") / 1000.0)


def errors(table: RecordTable) -> np.ndarray:
    return table.label("status").eq("error").astype(float)


def throttled(table: RecordTable) -> np.ndarray:
    return (np.nan_to_num(table.num("throttles")) > 0).astype(float)


def scores(table: RecordTable) -> np.ndarray:
    """Scores of answered requests only: a failed request is counted in the error rate, never as wrong."""
    return np.where(table.ok, table.num("score"), np.nan)


LOWER, HIGHER = Direction.LOWER_IS_BETTER, Direction.HIGHER_IS_BETTER
_latency, _ttft, _cost = _ok_positive("latency_ms"), _ok_positive("ttft_ms"), _ok_positive("cost_usd")

METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "accuracy", Kind.SCORE, HIGHER, "", scores),
    Metric("latency", "latency (geometric mean)", Kind.CONTINUOUS, LOWER, "ms", _latency, "geomean"),
    Metric("latency_p50", "latency p50", Kind.CONTINUOUS, LOWER, "ms", _latency, "p50"),
    Metric("latency_p90", "latency p90", Kind.CONTINUOUS, LOWER, "ms", _latency, "p90"),
    Metric("ttft_p50", "TTFT p50", Kind.CONTINUOUS, LOWER, "ms", _ttft, "p50"),
    Metric("ttft_p90", "TTFT p90", Kind.CONTINUOUS, LOWER, "ms", _ttft, "p90"),
    Metric("error_rate", "error rate", Kind.RATE, LOWER, "", errors),
    Metric("throttle_rate", "throttled share", Kind.RATE, LOWER, "", throttled),
    Metric("tokens_per_s", "output tokens/s per request (geometric mean)", Kind.CONTINUOUS, HIGHER, "tok/s",
           tokens_per_s, "geomean"),
    Metric("cost_per_request", "cost per request (geometric mean)", Kind.CONTINUOUS, LOWER, "USD", _cost,
           "geomean"),
)}


# ---------------------------------------------------------------------------------------------- summaries


def summarise(metric: Metric, values: Sequence[float] | np.ndarray) -> float:
    """The one-arm figure shown beside a comparison (and stored in the history index)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return math.nan
    if metric.summary == "geomean":
        return float(np.exp(np.mean(np.log(a))))
    if metric.quantile is not None:
        return float(np.quantile(a, metric.quantile))
    return float(np.mean(a))


def values_of(metric: Metric, table: RecordTable) -> np.ndarray:
    """The values of the records that count, in table order."""
    v = metric.values(table)
    return v[~np.isnan(v)]


# ---------------------------------------------------------------------------------------------- pairing
# Items both arms ran, averaged over repeats: the report's discordant-item counts (`evals.render.report.comparisons`).


def item_means(table: RecordTable, values: np.ndarray, log: bool = False) -> dict[str, float]:
    """item (`sample_id`) -> mean of its counting values over all its repeats, runs and sweep levels
    (the mean of logs when `log`)."""
    keep = ~np.isnan(values)
    if log:
        keep &= values > 0
    codes = table.label("sample_id").codes[keep]
    v = np.log(values[keep]) if log else values[keep]
    ok = codes >= 0
    codes, v = codes[ok], v[ok]
    if codes.size == 0:
        return {}
    width = len(table.label("sample_id").values)
    counts = np.bincount(codes, minlength=width)
    sums = np.bincount(codes, weights=v, minlength=width)
    names = table.label("sample_id").values
    return {names[c]: float(sums[c] / counts[c]) for c in np.flatnonzero(counts).tolist()}


def paired_items(base: Mapping[str, float], cand: Mapping[str, float]) -> list[str] | None:
    """Items to pair on, or None when the arms did not run (nearly) the same items: at least 2 shared items,
    and at least PAIRING_OVERLAP of each arm's items shared."""
    common = [k for k in base if k in cand]
    if len(common) < 2 or len(common) < PAIRING_OVERLAP * max(len(base), len(cand)):
        return None
    return sorted(common, key=str)


@dataclass(frozen=True)
class ItemPairs:
    """One summary per item and arm, in the same item order: the item is the unit of a paired test."""

    items: list[str]
    base: np.ndarray
    cand: np.ndarray

    @property
    def binary(self) -> bool:
        return bool(np.isin(self.base, (0.0, 1.0)).all() and np.isin(self.cand, (0.0, 1.0)).all())


def pair_by_item(base: RecordTable, cand: RecordTable, metric: Metric, summary: str = "mean") -> ItemPairs | None:
    """Pair two arms by item: each item's values averaged over its repeats and runs (`mean`, for scores) or
    their geometric mean (`geomean`, for latency-like values); None when the arms share too few items."""
    if summary not in ("mean", "geomean"):
        raise ValueError(f"unknown item summary {summary!r}")
    log = summary == "geomean"
    bx, by = item_means(base, metric.values(base), log), item_means(cand, metric.values(cand), log)
    common = paired_items(bx, by)
    if common is None:
        return None
    b, c = np.array([bx[k] for k in common]), np.array([by[k] for k in common])
    return ItemPairs(common, np.exp(b) if log else b, np.exp(c) if log else c)
