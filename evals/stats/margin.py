"""The regression gate's three-way decision with an indifference zone (the margin), on one-sided bounds.

Every comparison of a candidate with its baseline is reduced to `Bounds`: an estimate of the effect on an
additive scale (log of the ratio candidate/baseline for latency-like metrics, the difference for rates and
scores) and its one-sided lower and upper confidence bounds at a grid of error levels. With T the effect at
the margin's edge (log(1 + margin) for a lower-is-better ratio, -margin for a higher-is-better difference, ...):

- FAIL when the data show, at the configured confidence, a change worse than the margin: the one-sided
  (1 - alpha) bound on the *better* side is beyond T. Its p-value (the smallest level at which that holds) tests
  H0 "the change is at most the margin", so a change inside the margin (or exactly at it) fails at most alpha
  of the time; the p-values of all checks of one gate are Holm-adjusted together.
- PASS when the one-sided (1 - alpha) bound on the *worse* side is inside the margin.
- INCONCLUSIVE otherwise (the interval straddles the margin's edge).

The two arm-level bounds of a comparison of independent arms are combined by MOVER (Zou & Donner 2008,
"method of variance estimates recovery", Newcombe's square-and-add) or, where an estimate is infinite or the
arm bounds are exact, by Bonferroni (each arm at alpha/2), which is conservative and needs no approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .gate import Direction, MarginKind, Verdict

LEVELS = np.geomspace(1e-6, 0.5, 181)  # one-sided error levels at which bounds are computed for p-values


def level_grid(alpha: float) -> np.ndarray:
    """The p-value grid with the gate's own alpha (and alpha/2, for Bonferroni) placed on it exactly."""
    return np.unique(np.concatenate([LEVELS, [alpha, alpha / 2]]))


class Uncertainty(StrEnum):
    """How a comparison's uncertainty was obtained; the verdict names it."""

    BATCH_MEANS = "batch means over send time"
    RUN_LEVEL = "run level (Welch on per-run figures)"
    CLUSTERED = "paired by item, clustered standard error"
    EXACT = "exact per arm (Clopper-Pearson at the design-effect count), Bonferroni"
    NONE = "none (values do not vary)"


@dataclass(frozen=True)
class Bounds:
    """Candidate vs baseline on an additive scale, with one-sided bounds at every level in `levels`.

    `lower[i]` is the one-sided (1 - levels[i]) lower bound, `upper[i]` the upper one; `dropped` counts the
    items or requests of either arm left out of a paired comparison.
    """

    estimate: float
    levels: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: str
    uncertainty: Uncertainty
    n_base: int
    n_cand: int
    dropped: int = 0
    note: str = ""

    def at(self, alpha: float) -> tuple[float, float]:
        """(lower, upper) one-sided bounds at confidence 1 - alpha (alpha must be on the grid)."""
        i = int(np.argmin(np.abs(self.levels - alpha)))
        if not math.isclose(self.levels[i], alpha, rel_tol=1e-9):
            raise ValueError(f"alpha {alpha} is not on this comparison's level grid")
        return float(self.lower[i]), float(self.upper[i])


def unavailable(method: str, levels: np.ndarray, n_base: int, n_cand: int, note: str,
                estimate: float = math.nan, uncertainty: Uncertainty = Uncertainty.BATCH_MEANS,
                dropped: int = 0) -> Bounds:
    """A comparison with no interval (too little data): it can neither PASS nor FAIL."""
    nan = np.full(levels.shape, math.nan)
    return Bounds(estimate, levels, nan, nan, method, uncertainty, n_base, n_cand, dropped, note)


def margin_edge(margin: float, direction: Direction, kind: MarginKind) -> float:
    """The effect at the margin's edge on the additive scale: log(1 +/- m) for ratios, +/- m for differences."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    sign = 1.0 if direction is Direction.LOWER_IS_BETTER else -1.0
    if kind is MarginKind.RELATIVE:
        return math.log1p(sign * margin) if sign * margin > -1 else -math.inf
    return sign * margin


def p_beyond(bounds: Bounds, edge: float, direction: Direction) -> float:
    """One-sided p-value of H0 "the change is no worse than the margin" (the better-side bound at the edge).

    The smallest grid level at which the better-side bound is beyond `edge` (interpolated on log level);
    1 when it is not beyond even at level 0.5, NaN when the comparison has no bounds.
    """
    side = bounds.lower if direction is Direction.LOWER_IS_BETTER else -bounds.upper
    target = edge if direction is Direction.LOWER_IS_BETTER else -edge
    if np.isnan(side).all():
        return math.nan
    beyond = side > target
    if not beyond.any():
        return 1.0
    i = int(np.argmax(beyond))  # bounds tighten as the level grows, so `beyond` is False...False True...True
    if i == 0:
        return float(bounds.levels[0])
    a0, a1 = math.log(bounds.levels[i - 1]), math.log(bounds.levels[i])
    s0, s1 = float(side[i - 1]), float(side[i])
    frac = 1.0 if not (math.isfinite(s0) and math.isfinite(s1)) or s1 == s0 else (target - s0) / (s1 - s0)
    return float(math.exp(a0 + min(max(frac, 0.0), 1.0) * (a1 - a0)))


@dataclass(frozen=True)
class MarginVerdict:
    verdict: Verdict
    reason: str
    worse_bound: float  # one-sided (1 - alpha) bound on the worse side, additive scale
    edge: float


def decide(bounds: Bounds, edge: float, direction: Direction, alpha: float, p_adjusted: float) -> MarginVerdict:
    """FAIL / PASS / INCONCLUSIVE for one check; `p_adjusted` is its Holm-adjusted `p_beyond`."""
    lo, hi = bounds.at(alpha)
    worse, better = (hi, lo) if direction is Direction.LOWER_IS_BETTER else (lo, hi)
    if math.isnan(worse) or math.isnan(p_adjusted):
        return MarginVerdict(Verdict.INCONCLUSIVE, bounds.note or "not enough data for an interval", worse, edge)
    inside = worse <= edge if direction is Direction.LOWER_IS_BETTER else worse >= edge
    if p_adjusted < alpha:
        return MarginVerdict(Verdict.FAIL, f"worse than the margin: adjusted p={p_adjusted:.3g} < {alpha:g} "
                                           f"(H0: change within the margin)", worse, edge)
    if inside:
        return MarginVerdict(Verdict.PASS, "worse-side bound inside the margin", worse, edge)
    if (better > edge) if direction is Direction.LOWER_IS_BETTER else (better < edge):
        return MarginVerdict(Verdict.INCONCLUSIVE, f"beyond the margin, but not after Holm adjustment "
                                                   f"(adjusted p={p_adjusted:.3g})", worse, edge)
    return MarginVerdict(Verdict.INCONCLUSIVE, "interval straddles the margin's edge: neither ruled in nor out",
                         worse, edge)


def mover(est_y: float, lo_y: np.ndarray, hi_y: np.ndarray, est_x: float, lo_x: np.ndarray, hi_x: np.ndarray
          ) -> tuple[float, np.ndarray, np.ndarray]:
    """y - x with MOVER bounds from each arm's one-sided bounds at the same levels (independent arms).

    L = d - sqrt((y - l_y)^2 + (u_x - x)^2), U = d + sqrt((u_y - y)^2 + (x - l_x)^2). Infinite arm bounds give
    infinite combined bounds; infinite estimates need `bonferroni` instead.
    """
    d = est_y - est_x
    with np.errstate(invalid="ignore"):
        lower = d - np.sqrt((est_y - lo_y) ** 2 + (hi_x - est_x) ** 2)
        upper = d + np.sqrt((hi_y - est_y) ** 2 + (est_x - lo_x) ** 2)
    return d, lower, upper


def bonferroni(lo_y: np.ndarray, hi_y: np.ndarray, lo_x: np.ndarray, hi_x: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of y - x from arm bounds computed at half the level: L = l_y - u_x, U = u_y - l_x.

    Both arm bounds hold together with probability >= 1 - level (Bonferroni), so the result is exact (never
    anti-conservative) whenever the arm bounds are, whatever the sample sizes.
    """
    with np.errstate(invalid="ignore"):
        return lo_y - hi_x, hi_y - lo_x


class Outage(StrEnum):
    NONE = "none"
    CANDIDATE = "candidate"
    BASELINE = "baseline"


def outage(n_ok_base: int, n_ok_cand: int) -> Outage:
    """An arm with no successful request cannot PASS: a baseline with none cannot be gated against (bad
    input), a candidate with none FAILs whatever its sample size."""
    if n_ok_base == 0:
        return Outage.BASELINE
    if n_ok_cand == 0:
        return Outage.CANDIDATE
    return Outage.NONE
