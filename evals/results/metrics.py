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
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from evals.stats import Direction, MarginKind

Record = Mapping[str, Any]

# items shared by both arms, as a share of each arm's items, needed before pairing by item
PAIRING_OVERLAP = 0.9


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


# ---------------------------------------------------------------------------------------------- pairing
# Items both arms ran, averaged over repeats: the report's discordant-item counts (`evals.render.report.comparisons`).


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
