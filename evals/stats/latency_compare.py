"""Latency comparisons, candidate ``y`` against baseline ``x``: ratio of geometric means (Welch t on log
latency), Hodges-Lehmann shift, Mann-Whitney A = P(Y > X), bootstrap ratios of p50/p90, paired log ratios, and
ratios of per-run summaries when the run is the independent unit. Every comparison carries its minimum
detectable effect (evals/stats/power.py). Never decide by whether two one-group intervals overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .intervals import MIN_TAIL_COUNT, min_n_for_quantile, quantile_label
from .power import mde_log_ratio, minimum_detectable_effect, z_sum
from .resample import as_values, bootstrap_bounds, bootstrap_pvalues, log_positive
from .results import NAN, Comparison, Scale, check_confidence, unavailable_comparison


def _t_comparison(
    res_two: Any,
    res_greater: Any,
    res_less: Any,
    estimate_log: float,
    confidence: float,
    method: str,
    n_x: int,
    n_y: int,
    mde: float,
    note: str = "",
) -> Comparison:
    """Exponentiate a t-test on logs into a ratio comparison."""
    ci = res_two.confidence_interval(confidence_level=confidence)
    lo1 = res_greater.confidence_interval(confidence_level=confidence).low
    hi1 = res_less.confidence_interval(confidence_level=confidence).high
    return Comparison(
        estimate=math.exp(estimate_log), low=math.exp(ci.low), high=math.exp(ci.high),
        lower_1s=math.exp(lo1), upper_1s=math.exp(hi1),
        p_two_sided=float(res_two.pvalue), p_greater=float(res_greater.pvalue), p_less=float(res_less.pvalue),
        scale=Scale.RATIO, method=method, n_x=n_x, n_y=n_y, confidence=confidence, mde=mde, note=note,
    )


def latency_ratio(x: ArrayLike, y: ArrayLike, confidence: float = 0.95) -> Comparison:
    """Ratio of geometric means y/x via Welch's t on log latency; ``percent_change`` is "% slower".

    Assumes independent requests; log latency is close to normal and Welch allows unequal spread.
    """
    check_confidence(confidence)
    xa, ya = as_values(x, "x"), as_values(y, "y")
    method = "welch-t-log"
    if xa.size < 2 or ya.size < 2:
        return unavailable_comparison(Scale.RATIO, method, xa.size, ya.size, "needs at least 2 values per group",
                                      confidence=confidence)
    lx, ly = log_positive(xa, "x"), log_positive(ya, "y")
    return _welch_on_logs(lx, ly, confidence, method, "no variation in either group")


def _welch_on_logs(lx: np.ndarray, ly: np.ndarray, confidence: float, method: str, flat_note: str,
                   note: str = "") -> Comparison:
    """Ratio exp(mean(ly) - mean(lx)) with Welch's t on log-scale values (requests or per-run summaries)."""
    est = float(ly.mean() - lx.mean())
    if np.ptp(lx) == 0 and np.ptp(ly) == 0:
        return unavailable_comparison(Scale.RATIO, method, lx.size, ly.size, flat_note,
                                      estimate=math.exp(est), confidence=confidence)
    res = {alt: stats.ttest_ind(ly, lx, equal_var=False, alternative=alt)
           for alt in ("two-sided", "greater", "less")}
    mde = mde_log_ratio(float(lx.std(ddof=1)), float(ly.std(ddof=1)), lx.size, ly.size)
    return _t_comparison(res["two-sided"], res["greater"], res["less"], est, confidence, method,
                         lx.size, ly.size, mde, note=note)


def paired_log_ratio(x: ArrayLike, y: ArrayLike, confidence: float = 0.95) -> Comparison:
    """Geometric-mean ratio y/x for the same prompts in both arms: paired t on log differences."""
    check_confidence(confidence)
    xa, ya = as_values(x, "x"), as_values(y, "y")
    if xa.size != ya.size:
        raise ValueError(f"paired arms differ in length ({xa.size} vs {ya.size})")
    method = "paired-t-log"
    if xa.size < 2:
        return unavailable_comparison(Scale.RATIO, method, xa.size, ya.size, "needs at least 2 pairs",
                                      confidence=confidence)
    d = log_positive(ya, "y") - log_positive(xa, "x")
    sd = float(d.std(ddof=1))
    if np.ptp(d) == 0:
        return unavailable_comparison(Scale.RATIO, method, xa.size, ya.size, "log differences do not vary",
                                      estimate=math.exp(float(d.mean())), confidence=confidence)
    res = {alt: stats.ttest_1samp(d, 0.0, alternative=alt) for alt in ("two-sided", "greater", "less")}
    mde = math.exp(minimum_detectable_effect(sd, d.size))
    return _t_comparison(res["two-sided"], res["greater"], res["less"], float(d.mean()), confidence, method,
                         xa.size, ya.size, mde)


def _pairwise_order_stats(x: np.ndarray, y: np.ndarray, ranks: Sequence[int]) -> list[float]:
    """k-th smallest (1-based) of all differences y_j - x_i.

    Direct when m*n is small; otherwise bisection on the value with counts from a sorted x, which needs
    O(m + n) memory instead of O(m n).
    """
    m, n = x.size, y.size
    if m * n <= 4_000_000:
        diffs = (y[None, :] - x[:, None]).ravel()
        idx = sorted({r - 1 for r in ranks})
        part = np.partition(diffs, idx)
        return [float(part[r - 1]) for r in ranks]
    xs = np.sort(x)

    def count_le(t: float) -> int:
        return int(np.sum(m - np.searchsorted(xs, y - t, side="left")))

    out = []
    lo0, hi0 = float(y.min() - xs[-1]), float(y.max() - xs[0])
    for r in ranks:
        lo, hi = lo0, hi0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if count_le(mid) >= r:
                hi = mid
            else:
                lo = mid
        out.append(hi)
    return out


def hodges_lehmann_shift(x: ArrayLike, y: ArrayLike, confidence: float = 0.95) -> Comparison:
    """Hodges-Lehmann shift: median of all y_j - x_i, with the distribution-free interval.

    The interval takes order statistics of the pairwise differences at the Mann-Whitney critical rank
    (Hollander & Wolfe, normal approximation of the U distribution, fine for m, n >= 10); it assumes the two
    distributions differ by a shift. p-values from ``scipy.stats.mannwhitneyu``.
    """
    check_confidence(confidence)
    xa, ya = as_values(x, "x"), as_values(y, "y")
    m, n = xa.size, ya.size
    method = "hodges-lehmann"
    if m == 0 or n == 0:
        return unavailable_comparison(Scale.DIFFERENCE, method, m, n, "an arm has no values",
                                      confidence=confidence)
    mn = m * n
    mu, sigma = mn / 2, math.sqrt(mn * (m + n + 1) / 12)
    k2 = math.floor(mu - float(stats.norm.ppf(0.5 + confidence / 2)) * sigma)
    k1 = math.floor(mu - float(stats.norm.ppf(confidence)) * sigma)
    mid = [(mn + 1) // 2, mn // 2 + 1]
    if k2 < 1:
        med = _pairwise_order_stats(xa, ya, mid)
        return unavailable_comparison(Scale.DIFFERENCE, method, m, n, f"too few values for a {confidence:.0%} "
                                      "interval", estimate=0.5 * (med[0] + med[1]), confidence=confidence)
    ranks = [*mid, k2, mn + 1 - k2, k1, mn + 1 - k1]
    v = _pairwise_order_stats(xa, ya, ranks)
    mw = {alt: stats.mannwhitneyu(ya, xa, alternative=alt) for alt in ("two-sided", "greater", "less")}
    sd = math.sqrt(float(xa.var(ddof=1)) / m + float(ya.var(ddof=1)) / n) if m > 1 and n > 1 else NAN
    note = "approximate interval (m or n < 10)" if min(m, n) < 10 else ""
    return Comparison(
        estimate=0.5 * (v[0] + v[1]), low=v[2], high=v[3], lower_1s=v[4], upper_1s=v[5],
        p_two_sided=float(mw["two-sided"].pvalue), p_greater=float(mw["greater"].pvalue),
        p_less=float(mw["less"].pvalue), scale=Scale.DIFFERENCE, method=method, n_x=m, n_y=n,
        confidence=confidence, mde=z_sum(0.05, 0.8) * sd, note=note,
    )


@dataclass(frozen=True)
class MannWhitney:
    """Mann-Whitney effect size A = P(Y > X) + P(Y = X)/2 (0.5 = no difference) and its U-test p-values."""

    a: float
    p_two_sided: float
    p_greater: float
    p_less: float
    n_x: int
    n_y: int


def mann_whitney_effect(x: ArrayLike, y: ArrayLike) -> MannWhitney:
    """A = U_y / (m n) from ``scipy.stats.mannwhitneyu(y, x)`` (Vargha & Delaney 2000)."""
    xa, ya = as_values(x, "x"), as_values(y, "y")
    if xa.size == 0 or ya.size == 0:
        return MannWhitney(NAN, NAN, NAN, NAN, xa.size, ya.size)
    res = {alt: stats.mannwhitneyu(ya, xa, alternative=alt) for alt in ("two-sided", "greater", "less")}
    a = float(res["two-sided"].statistic) / (xa.size * ya.size)
    return MannWhitney(a, float(res["two-sided"].pvalue), float(res["greater"].pvalue),
                       float(res["less"].pvalue), xa.size, ya.size)


def quantile_ratio_bootstrap(
    x: ArrayLike, y: ArrayLike, q: float, confidence: float = 0.95, seed: int = 0, n_resamples: int = 4999
) -> Comparison:
    """Ratio of q-quantiles y/x (for p50, p90) with a two-sample BCa bootstrap; percentile if BCa is NaN.

    Greyed out unless both arms have >= 10 values beyond the quantile; not for tails (bootstrap under-covers).
    p-values invert the percentile bootstrap and are approximate.
    """
    check_confidence(confidence)
    xa, ya = as_values(x, "x"), as_values(y, "y")
    method = f"bootstrap-{quantile_label(q)}-ratio"
    m, n = xa.size, ya.size
    if min(m, n) * min(q, 1 - q) < MIN_TAIL_COUNT - 1e-9:
        est = float(np.quantile(ya, q) / np.quantile(xa, q)) if m and n else NAN
        return unavailable_comparison(Scale.RATIO, method, m, n,
                                      f"needs n >= {min_n_for_quantile(q)} per arm for {quantile_label(q)}, "
                                      f"have {m} and {n}", estimate=est, confidence=confidence)

    def stat(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.quantile(b, q, axis=axis) / np.quantile(a, q, axis=axis)

    est = float(stat(xa, ya))
    lo, hi, lo1, hi1, dist, kind = bootstrap_bounds((xa, ya), stat, confidence, seed, n_resamples)
    p2, pg, pl = bootstrap_pvalues(dist, 1.0)
    note = "" if kind == "BCa" else "BCa gave NaN; percentile bootstrap used"
    return Comparison(est, lo, hi, lo1, hi1, p2, pg, pl, Scale.RATIO, f"{method}-{kind}", m, n, confidence,
                      note=note)


def log_geomean(values: np.ndarray) -> float:
    """Mean of log values: the log of the geometric mean."""
    return float(np.mean(np.log(values)))


def run_level_ratio(
    x_runs: Sequence[ArrayLike],
    y_runs: Sequence[ArrayLike],
    confidence: float = 0.95,
    per_run: Callable[[np.ndarray], float] = log_geomean,
) -> Comparison:
    """Compare arms by per-run summaries (default: log geometric mean), Welch t across runs.

    Cloud latency drifts between runs, so the run, not the request, is the independent unit; request-level
    tests on one run per arm falsely fail many A/A comparisons. ``per_run`` must return a log-scale value;
    the result is a ratio. Needs at least 2 runs per arm.
    """
    check_confidence(confidence)
    vx = np.array([per_run(as_values(r, "x run")) for r in x_runs], dtype=float)
    vy = np.array([per_run(as_values(r, "y run")) for r in y_runs], dtype=float)
    method = "welch-t-runs"
    if vx.size < 2 or vy.size < 2:
        est = math.exp(float(vy.mean() - vx.mean())) if vx.size and vy.size else NAN
        return unavailable_comparison(Scale.RATIO, method, vx.size, vy.size,
                                      f"needs at least 2 runs per arm, have {vx.size} and {vy.size}",
                                      estimate=est, confidence=confidence)
    return _welch_on_logs(vx, vy, confidence, method, "run summaries do not vary", note="n_x and n_y count runs")
