"""Candidate-vs-baseline effects for the gate, each as `Bounds` on an additive scale (see `margin`).

- latency quantiles: log ratio of time-to-success quantiles (failed requests are +inf, beyond every success,
  so failing fast or timing out never looks faster), MOVER of the arms' correlation-robust order-statistic
  bounds; Bonferroni when an estimate is infinite (the candidate's quantile falls among its failures);
- error and throttle rates: difference of exact Clopper-Pearson bounds (Bonferroni), any n;
- geometric-mean metrics (latency, tokens/s, cost): mean per-item log ratio over the items both arms
  answered, batch-means variance in both arms' send orders;
- scores: mean per-item difference over the common items, standard error clustered by passage;
- several runs per arm: Welch on per-run log figures.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .dependent import (
    BATCHES,
    DiffBounds,
    clustered_diff_bounds,
    paired_mean_bounds,
    quantile_bounds,
    rate_bounds,
    run_level,
)
from .margin import Bounds, Uncertainty, bonferroni, mover, unavailable


def _log(a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(a)


def quantile_log_ratio(x_time_order: ArrayLike, y_time_order: ArrayLike, q: float, levels: np.ndarray,
                       batches: int = BATCHES) -> Bounds:
    """log(q-quantile of y / q-quantile of x), arms independent, each correlated over its send time."""
    x, y = np.asarray(x_time_order, dtype=float), np.asarray(y_time_order, dtype=float)
    method = f"p{q * 100:g} ratio of time-to-success (failures beyond every success)"
    if x.size == 0 or y.size == 0:
        return unavailable(method, levels, x.size, y.size, "an arm has no requests")
    df = welch_df(x, y, q, batches)
    common = df if math.isfinite(df) else None  # None: each arm's own (exact binomial) ranks
    bx, by = (quantile_bounds(a, q, levels, batches, common) for a in (x, y))
    if math.isfinite(bx.estimate) and math.isfinite(by.estimate):
        est, lower, upper = mover(math.log(by.estimate), _log(by.lower), _log(by.upper),
                                  math.log(bx.estimate), _log(bx.lower), _log(bx.upper))
        how = "MOVER"
    else:
        hx, hy = (quantile_bounds(a, q, levels / 2, batches, common) for a in (x, y))
        with np.errstate(invalid="ignore"):
            est = float(np.log(by.estimate) - np.log(bx.estimate))
        lower, upper = bonferroni(_log(hy.lower), _log(hy.upper), _log(hx.lower), _log(hx.upper))
        how = "Bonferroni"
    note = f"design effect {bx.design_effect:.2g} (baseline), {by.design_effect:.2g} (candidate)"
    if math.isnan(est):
        return unavailable(method, levels, x.size, y.size, "both quantiles fall among failures", est)
    return Bounds(est, levels, lower, upper, f"{method}, {how}", Uncertainty.BATCH_MEANS, x.size, y.size,
                  note=note)


def welch_df(x: np.ndarray, y: np.ndarray, q: float, batches: int, level: float = 0.025) -> float:
    """Welch-Satterthwaite df of the two arms' log-quantile variances, (v_x + v_y)^2 / (v_x^2 / df_x + v_y^2 /
    df_y), each v read off the arm's own bounds at `level` (half the log width over t_df). MOVER adds the two
    variances, which together rest on more df than either (up to twice as many): each arm's bounds on its
    own df alone were needlessly wide. inf when neither arm's bounds rest on an estimated variance."""
    arms = [quantile_bounds(a, q, np.array([level]), batches) for a in (x, y)]
    if all(not math.isfinite(a.df) for a in arms):
        return math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        width = [float(np.log(a.upper[0]) - np.log(a.lower[0])) for a in arms]
    if not all(math.isfinite(w) for w in width):
        return min(a.df for a in arms)
    v = [(w / (2 * float(_t_isf(level, a.df)))) ** 2 for w, a in zip(width, arms, strict=True)]
    denominator = sum(vi**2 / a.df for vi, a in zip(v, arms, strict=True) if math.isfinite(a.df))
    return (v[0] + v[1]) ** 2 / denominator if denominator > 0 else min(a.df for a in arms)


def _t_isf(level: float, df: float) -> float:
    return float(stats.t.isf(level, df)) if math.isfinite(df) else float(stats.norm.isf(level))


def rate_difference(x_events: ArrayLike, y_events: ArrayLike, levels: np.ndarray, batches: int = BATCHES
                    ) -> Bounds:
    """Rate of y minus rate of x from exact per-arm bounds at half the level (Bonferroni): valid at any n."""
    ex, ey = np.asarray(x_events, dtype=float), np.asarray(y_events, dtype=float)
    method = "difference of rates, Clopper-Pearson per arm"
    if ex.size == 0 or ey.size == 0:
        return unavailable(method, levels, ex.size, ey.size, "an arm has no requests")
    bx, by = rate_bounds(ex, levels / 2, batches), rate_bounds(ey, levels / 2, batches)
    lower, upper = bonferroni(by.lower, by.upper, bx.lower, bx.upper)
    note = "" if max(bx.design_effect, by.design_effect) <= 1.0 else (
        f"clustered in time: design effect {bx.design_effect:.2g} (baseline), {by.design_effect:.2g} (candidate)")
    return Bounds(by.rate - bx.rate, levels, lower, upper, method, Uncertainty.EXACT, ex.size, ey.size, note=note)


def _from_diff(db: DiffBounds, levels: np.ndarray, method: str, uncertainty: Uncertainty, n: int,
               dropped: int) -> Bounds:
    if math.isnan(db.se):
        return unavailable(method, levels, n, n, db.note, db.estimate, uncertainty, dropped)
    if db.se == 0:
        uncertainty, method = Uncertainty.NONE, f"{method} (no variation: exact)"
    return Bounds(db.estimate, levels, db.lower, db.upper, method, uncertainty, n, n, dropped, db.note)


def paired_log_ratio(x: ArrayLike, y: ArrayLike, x_sent: ArrayLike, y_sent: ArrayLike, levels: np.ndarray,
                     dropped: int = 0, batches: int = BATCHES) -> Bounds:
    """Mean per-item log(y / x) (ratio of geometric means over the common items) with batch-means bounds.

    `x_sent`, `y_sent`: each item's send time in its arm, to order the batches.
    """
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    db = paired_mean_bounds(ly - lx, x_sent, y_sent, levels, batches)
    return _from_diff(db, levels, "paired geometric-mean ratio over common items", Uncertainty.BATCH_MEANS,
                      lx.size, dropped)


def clustered_difference(x: ArrayLike, y: ArrayLike, clusters: ArrayLike, levels: np.ndarray, dropped: int = 0
                         ) -> Bounds:
    """Mean per-item y - x over the common items, standard error clustered by `clusters` (CR1, t G-1 df)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    db = clustered_diff_bounds(ya - xa, clusters, levels)
    return _from_diff(db, levels, "paired difference over common items", Uncertainty.CLUSTERED, xa.size, dropped)


def run_level_log_ratio(x_runs: ArrayLike, y_runs: ArrayLike, levels: np.ndarray) -> Bounds:
    """Mean per-run log figure of y minus that of x (per-run log quantiles or log geometric means), Welch."""
    xa, ya = np.asarray(x_runs, dtype=float), np.asarray(y_runs, dtype=float)
    db = run_level(xa, ya, levels)
    out = _from_diff(db, levels, "Welch on per-run log figures", Uncertainty.RUN_LEVEL, 0, 0)
    return Bounds(out.estimate, levels, out.lower, out.upper, out.method, out.uncertainty, xa.size, ya.size,
                  note=out.note)
