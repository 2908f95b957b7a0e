"""Result types shared by the statistics functions.

Every result is a small frozen dataclass so that reports, the gate and JSON output read the same fields.
Greyed-out results keep their point estimate, set ``available=False`` and say why in ``note``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

NAN = float("nan")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval for one group."""

    estimate: float
    low: float
    high: float
    method: str
    n: int
    confidence: float = 0.95
    available: bool = True
    note: str = ""


@dataclass(frozen=True)
class ClusteredInterval(Interval):
    """Mean with a cluster-robust interval; ``repeats`` is the mean number of scores per cluster."""

    clusters: int = 0
    repeats: float = NAN
    se: float = NAN


class Scale(StrEnum):
    """How a two-group estimate relates candidate ``y`` to baseline ``x``."""

    RATIO = "ratio"  # y / x, no difference at 1
    DIFFERENCE = "difference"  # y - x, no difference at 0


@dataclass(frozen=True)
class Comparison:
    """Candidate ``y`` against baseline ``x``.

    ``low``/``high`` form the two-sided interval at ``confidence``; ``lower_1s``/``upper_1s`` are the
    one-sided bounds at the same confidence (the gate reads the one on the worse side).
    ``p_greater`` tests "y is above x" (estimate above the null), ``p_less`` "y is below x".
    ``mde`` is the minimum detectable effect on the same scale (alpha .05 two-sided, power .8).
    """

    estimate: float
    low: float
    high: float
    lower_1s: float
    upper_1s: float
    p_two_sided: float
    p_greater: float
    p_less: float
    scale: Scale
    method: str
    n_x: int
    n_y: int
    confidence: float = 0.95
    mde: float = NAN
    available: bool = True
    note: str = ""

    @property
    def null(self) -> float:
        """The value of ``estimate`` meaning "no difference"."""
        return 1.0 if self.scale is Scale.RATIO else 0.0

    @property
    def percent_change(self) -> float:
        """``(ratio - 1) * 100`` for ratio comparisons: the headline "% slower" for latency."""
        if self.scale is not Scale.RATIO:
            raise ValueError("percent_change is defined for ratio comparisons only")
        return (self.estimate - 1.0) * 100.0


def unavailable_comparison(
    scale: Scale, method: str, n_x: int, n_y: int, note: str, estimate: float = NAN, confidence: float = 0.95
) -> Comparison:
    """A greyed-out comparison: estimate kept when known, everything else NaN."""
    return Comparison(
        estimate=estimate, low=NAN, high=NAN, lower_1s=NAN, upper_1s=NAN,
        p_two_sided=NAN, p_greater=NAN, p_less=NAN, scale=scale, method=method,
        n_x=n_x, n_y=n_y, confidence=confidence, available=False, note=note,
    )


def check_confidence(confidence: float) -> None:
    """Reject confidence levels outside (0, 1) early, with a clear message."""
    if not (0.0 < confidence < 1.0) or math.isnan(confidence):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
