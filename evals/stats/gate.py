"""Multiplicity corrections and the regression gate decision.

The gate decides on significance AND size (as pyperf does): FAIL when the Holm-adjusted one-sided test says
worse and the estimate is worse than the margin; PASS when the one-sided bound on the worse side is inside the
margin; otherwise INCONCLUSIVE. Benjamini-Hochberg is for screening many cells in reports, Holm for the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .results import Comparison, Scale


def benjamini_hochberg(pvalues: ArrayLike) -> np.ndarray:
    """BH-adjusted p-values (``scipy.stats.false_discovery_control``); NaN entries stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error); NaN entries stay NaN.

    scipy has no Holm adjustment: p_(i) * (m - i + 1) for sorted p, made monotone, capped at 1.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = np.argsort(p[ok], kind="stable")
    sorted_p = p[ok][order]
    adj = np.minimum(np.maximum.accumulate(sorted_p * (m - np.arange(m))), 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


class Direction(StrEnum):
    """Which way is better for a metric."""

    LOWER_IS_BETTER = "lower"  # latency, errors, cost
    HIGHER_IS_BETTER = "higher"  # accuracy, throughput


class MarginKind(StrEnum):
    """RELATIVE: margin on a ratio y/x (0.05 = 5 %); ABSOLUTE: margin on a difference y - x (0.02 = 2 points)."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class GateDecision:
    """Verdict with the numbers it was made from and a one-line reason."""

    verdict: Verdict
    reason: str
    estimate: float
    bound_worse: float
    p_adjusted: float
    threshold: float
    direction: Direction
    margin: float
    margin_kind: MarginKind
    alpha: float


def margin_threshold(margin: float, direction: Direction, kind: MarginKind) -> float:
    """The estimate value at the edge of the margin: 1 +/- margin for ratios, +/- margin for differences."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    null = 1.0 if kind is MarginKind.RELATIVE else 0.0
    return null + margin if direction is Direction.LOWER_IS_BETTER else null - margin


def gate_decision(
    estimate: float,
    bound_worse: float,
    p_adjusted: float,
    margin: float,
    direction: Direction | str,
    alpha: float = 0.05,
    margin_kind: MarginKind | str = MarginKind.RELATIVE,
) -> GateDecision:
    """FAIL / PASS / INCONCLUSIVE for one cell.

    ``estimate`` is y/x (relative margin) or y - x (absolute margin); ``bound_worse`` the one-sided
    (1 - alpha) bound on the worse side (upper for lower-is-better); ``p_adjusted`` the Holm-adjusted
    one-sided p-value for "y is worse".
    """
    direction, kind = Direction(direction), MarginKind(margin_kind)
    threshold = margin_threshold(margin, direction, kind)

    def worse_than(v: float) -> bool:
        return v > threshold if direction is Direction.LOWER_IS_BETTER else v < threshold

    def decide(verdict: Verdict, reason: str) -> GateDecision:
        return GateDecision(verdict, reason, estimate, bound_worse, p_adjusted, threshold, direction, margin,
                            kind, alpha)

    if any(math.isnan(v) for v in (estimate, bound_worse, p_adjusted)):
        return decide(Verdict.INCONCLUSIVE, "not enough data for a test or an interval")
    if p_adjusted < alpha and worse_than(estimate):
        return decide(Verdict.FAIL, f"worse (adjusted p={p_adjusted:.3g} < {alpha}) and estimate "
                                    f"{estimate:.4g} beyond margin {threshold:.4g}")
    if not worse_than(bound_worse):
        return decide(Verdict.PASS, f"one-sided bound {bound_worse:.4g} within margin {threshold:.4g}")
    if p_adjusted < alpha:
        return decide(Verdict.INCONCLUSIVE, f"significantly worse but estimate {estimate:.4g} within margin "
                                            f"{threshold:.4g} and bound {bound_worse:.4g} beyond it")
    return decide(Verdict.INCONCLUSIVE, f"bound {bound_worse:.4g} beyond margin {threshold:.4g}, "
                                        f"not significant (adjusted p={p_adjusted:.3g})")


def worse_side(comparison: Comparison, direction: Direction | str) -> tuple[float, float]:
    """(one-sided p for "y is worse", one-sided bound on the worse side) of a comparison."""
    if Direction(direction) is Direction.LOWER_IS_BETTER:
        return comparison.p_greater, comparison.upper_1s
    return comparison.p_less, comparison.lower_1s


def gate_comparisons(
    comparisons: list[Comparison],
    margins: list[float],
    directions: list[Direction | str],
    alpha: float = 0.05,
) -> list[GateDecision]:
    """Gate many cells at once: Holm-adjust the worse-side p-values, then decide each cell.

    The margin kind follows each comparison's scale (ratio -> relative, difference -> absolute).
    """
    if not len(comparisons) == len(margins) == len(directions):
        raise ValueError("comparisons, margins and directions differ in length")
    sides = [worse_side(c, d) for c, d in zip(comparisons, directions, strict=True)]
    adjusted = holm([p for p, _ in sides])
    out = []
    for c, m, d, (_, bound), p_adj in zip(comparisons, margins, directions, sides, adjusted, strict=True):
        kind = MarginKind.RELATIVE if c.scale is Scale.RATIO else MarginKind.ABSOLUTE
        out.append(gate_decision(c.estimate, bound, float(p_adj), m, d, alpha, kind))
    return out
