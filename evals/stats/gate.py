"""Multiplicity corrections and the words of a verdict (direction, margin kind, verdict).

Holm, conditionalized for the gate (family-wise error over every check, `conditionalized_holm`), plain Holm for
compare's per-metric families, Benjamini-Hochberg for screening many cells. The decision rule itself (an
indifference zone on one-sided bounds) is `evals.stats.margin`.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


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


CONDITIONING_THRESHOLD = 0.5  # tau of `conditionalized_holm`


def conditionalized_holm(pvalues: ArrayLike, tau: float = CONDITIONING_THRESHOLD) -> np.ndarray:
    """Holm after conditionalization (Ellis, Pecanka & Goeman 2020): p-values above `tau` are set aside
    (adjusted to 1), the others are divided by `tau` and Holm-adjusted among themselves; NaN stays NaN.

    For interval nulls ("the change is within the margin") a null inside its margin has a p-value stochastically
    larger than uniform, and uniformly so: P(p <= tau u | p <= tau) <= u. Conditioning on p <= tau keeps a
    valid p-value (p / tau) for every null, and the nulls far inside the margin (most checks of a gate) drop
    out of the family instead of dividing alpha. Family-wise error <= alpha for independent p-values (their
    theorem); docs/gate.md gives the simulation under dependence.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    keep = finite & (p <= tau)
    out[finite & ~keep] = 1.0
    if keep.any():
        out[keep] = holm(p[keep] / tau)
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
