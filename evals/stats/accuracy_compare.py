"""Accuracy comparisons, candidate ``y`` against baseline ``x``: exact McNemar and Newcombe intervals
(Newcombe 1998) for 0/1 scores, Fisher for different items, a paired bootstrap for non-binary scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .power import mde_proportion_diff, minimum_detectable_effect
from .resample import as_values, bootstrap_bounds, bootstrap_pvalues
from .results import Comparison, Scale, check_confidence, unavailable_comparison


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test. b: baseline right, candidate wrong; c: baseline wrong, candidate right.

    ``p_greater`` tests "candidate is more accurate" (c > b), ``p_less`` "candidate is less accurate".
    """

    b: int
    c: int
    p_two_sided: float
    p_greater: float
    p_less: float


def mcnemar_exact(b: int, c: int) -> McNemar:
    """Exact McNemar: the discordant pairs split 50/50 under no difference, ``binomtest(c, b + c, 0.5)``."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    if b + c == 0:
        return McNemar(b, c, 1.0, 1.0, 1.0)
    p = {alt: float(stats.binomtest(c, b + c, 0.5, alternative=alt).pvalue)
         for alt in ("two-sided", "greater", "less")}
    return McNemar(b, c, p["two-sided"], p["greater"], p["less"])


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _newcombe_unpaired(kx: int, nx: int, ky: int, ny: int, confidence: float) -> tuple[float, float]:
    """Newcombe (1998) method 10, hybrid Wilson score interval for p_y - p_x."""
    px, py = kx / nx, ky / ny
    lx, ux = _wilson(kx, nx, confidence)
    ly, uy = _wilson(ky, ny, confidence)
    d = py - px
    return d - math.hypot(py - ly, ux - px), d + math.hypot(uy - py, px - lx)


def _newcombe_paired(a: int, b: int, c: int, d: int, confidence: float) -> tuple[float, float]:
    """Newcombe (1998b) method 10 for paired proportions, difference p_y - p_x.

    a: both right, b: x right only, c: y right only, d: both wrong. Not in scipy, hence hand-written.
    """
    n = a + b + c + d
    px, py = (a + b) / n, (a + c) / n
    lx, ux = _wilson(a + b, n, confidence)
    ly, uy = _wilson(a + c, n, confidence)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denom) if denom > 0 else 0.0
    theta = py - px
    dl = math.sqrt(max((py - ly) ** 2 - 2 * phi * (py - ly) * (ux - px) + (ux - px) ** 2, 0.0))
    du = math.sqrt(max((uy - py) ** 2 - 2 * phi * (uy - py) * (px - lx) + (px - lx) ** 2, 0.0))
    return theta - dl, theta + du


def paired_proportion_diff(x: ArrayLike, y: ArrayLike, confidence: float = 0.95) -> Comparison:
    """Accuracy difference y - x on the same items (0/1 scores): Newcombe paired interval, exact McNemar p."""
    check_confidence(confidence)
    xa, ya = as_values(x, "x"), as_values(y, "y")
    if xa.size != ya.size:
        raise ValueError(f"paired arms differ in length ({xa.size} vs {ya.size})")
    if not (np.isin(xa, (0, 1)).all() and np.isin(ya, (0, 1)).all()):
        raise ValueError("scores must be 0 or 1; use paired_bootstrap_diff for other scores")
    n = xa.size
    method = "newcombe-paired+mcnemar-exact"
    if n == 0:
        return unavailable_comparison(Scale.DIFFERENCE, method, 0, 0, "no items", confidence=confidence)
    xb, yb = xa.astype(bool), ya.astype(bool)
    a, b = int(np.sum(xb & yb)), int(np.sum(xb & ~yb))
    c, d = int(np.sum(~xb & yb)), int(np.sum(~xb & ~yb))
    lo, hi = _newcombe_paired(a, b, c, d, confidence)
    lo1, _ = _newcombe_paired(a, b, c, d, 2 * confidence - 1)
    _, hi1 = _newcombe_paired(a, b, c, d, 2 * confidence - 1)
    mc = mcnemar_exact(b, c)
    # sd of the per-item difference from the discordant share, with one pseudo-discordant pair: observing no
    # discordance must not claim that any difference, however small, would have been detected
    psi = (b + c + 1) / (n + 1)
    sd = math.sqrt(max(psi - ((c - b) / n) ** 2, 0.0))
    return Comparison((c - b) / n, lo, hi, lo1, hi1, mc.p_two_sided, mc.p_greater, mc.p_less,
                      Scale.DIFFERENCE, method, n, n, confidence, minimum_detectable_effect(sd, n))


def proportion_diff(kx: int, nx: int, ky: int, ny: int, confidence: float = 0.95) -> Comparison:
    """Difference p_y - p_x of proportions on different items: Newcombe hybrid score interval, Fisher p."""
    check_confidence(confidence)
    method = "newcombe-score+fisher-exact"
    if nx == 0 or ny == 0:
        return unavailable_comparison(Scale.DIFFERENCE, method, nx, ny, "an arm has no items",
                                      confidence=confidence)
    if not (0 <= kx <= nx and 0 <= ky <= ny):
        raise ValueError("need 0 <= k <= n in both arms")
    lo, hi = _newcombe_unpaired(kx, nx, ky, ny, confidence)
    lo1, hi1 = _newcombe_unpaired(kx, nx, ky, ny, 2 * confidence - 1)
    table = [[ky, ny - ky], [kx, nx - kx]]
    p = {alt: float(stats.fisher_exact(table, alternative=alt).pvalue)
         for alt in ("two-sided", "greater", "less")}
    pooled = (kx + ky) / (nx + ny)
    return Comparison(ky / ny - kx / nx, lo, hi, lo1, hi1, p["two-sided"], p["greater"], p["less"],
                      Scale.DIFFERENCE, method, nx, ny, confidence, mde_proportion_diff(pooled, nx, ny))


def paired_bootstrap_diff(
    x: ArrayLike, y: ArrayLike, confidence: float = 0.95, seed: int = 0, n_resamples: int = 9999
) -> Comparison:
    """Mean difference y - x of non-binary scores on the same items: bootstrap over items (BCa)."""
    check_confidence(confidence)
    xa, ya = as_values(x, "x"), as_values(y, "y")
    if xa.size != ya.size:
        raise ValueError(f"paired arms differ in length ({xa.size} vs {ya.size})")
    method = "paired-bootstrap"
    n = xa.size
    if n < 2:
        return unavailable_comparison(Scale.DIFFERENCE, method, n, n, "needs at least 2 items",
                                      confidence=confidence)
    d = ya - xa
    lo, hi, lo1, hi1, dist, kind = bootstrap_bounds((d,), np.mean, confidence, seed, n_resamples)
    p2, pg, pl = bootstrap_pvalues(dist, 0.0)
    note = "" if kind == "BCa" else "BCa gave NaN; percentile bootstrap used"
    return Comparison(float(d.mean()), lo, hi, lo1, hi1, p2, pg, pl, Scale.DIFFERENCE, f"{method}-{kind}",
                      n, n, confidence, minimum_detectable_effect(float(d.std(ddof=1)), n), note=note)
