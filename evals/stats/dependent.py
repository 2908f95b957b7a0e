"""Arm-level bounds that survive correlated requests: latency drifts and has slow minutes, throttles come in storms.

Requests of one run are not independent: a slow minute slows every request in it. Each function below takes the
values of one arm in send-time order and estimates the variance of its mean (or of its empirical CDF at a
quantile) from non-overlapping batch means over send time (`mean_variance`), never narrower than the
independent-requests variance. Bounds then use a t quantile with (batches - 1) degrees of freedom, or the
fewer of the Richardson step (`richardson_df`), which pays for the variance being itself an estimate.
Assumptions, stated once: the correlation dies out within a batch (a batch is 1/`BATCHES` of the run), and the
run is stationary apart from that correlation.

With several interleaved runs per arm, `run_level` compares per-run figures (Welch, Satterthwaite df): drift
between runs is then part of the noise, which no within-run method can see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .intervals import MIN_TAIL_COUNT, clustered_mean_interval, min_n_for_quantile, quantile_label
from .results import NAN, Interval, check_confidence

BATCHES = 5  # batches per run: few long batches see slow drift (a 20 s correlation in a 2-minute run); the
# t quantile with BATCHES - 1 df pays for the variance estimate resting on so few batches
TIE = 1e-9  # relative difference below which two variance estimates are the same number (rounding)
MIN_BATCH = 5  # smallest batch: below BATCHES * MIN_BATCH values the batches shrink in number
MIN_RUNS = 3  # runs of one arm or cell from which figures are judged run by run (t on R - 1 df)


@dataclass(frozen=True)
class MeanVariance:
    """Variance of a mean under send-time correlation and what it rests on."""

    variance: float
    df: float
    design_effect: float  # variance / independent-requests variance (>= 1)
    batches: int


def batch_means(x: np.ndarray, batches: int) -> np.ndarray:
    """Means of `batches` contiguous, (nearly) equal-count batches of a time-ordered series."""
    edges = np.linspace(0, x.size, batches + 1).round().astype(int)
    sums = np.add.reduceat(x, edges[:-1])
    return sums / np.diff(edges)


def richardson_df(batches: int) -> float:
    """Degrees of freedom of the Richardson estimate 2 V_B - V_2B (Satterthwaite: 2 E[V]^2 / Var(V)).

    With independent normal batch means, V_B has B - 1 df and V_2B 2B - 1, and the B batches are pairs of the
    2B, so Cov(V_B, V_2B) = Var(V_2B); then Var(2 V_B - V_2B) / E^2 = 2 (4 / (B - 1) - 3 / (2B - 1)), and
    df = 1 / (4 / (B - 1) - 3 / (2B - 1)): 1.5 at B = 5, 3.5 at B = 10. A difference of two variance
    estimates is much noisier than either; bounds on B - 1 df were too narrow (the summary p50 covered 92 %
    under strong drift).
    """
    return 1.0 / (4.0 / (batches - 1) - 3.0 / (2 * batches - 1))


def richardson(v_b: float, v_2b: float, batches: int) -> tuple[float, float]:
    """(variance, df): 2 V_B - V_2B on `richardson_df` df when it exceeds V_B, else V_B on B - 1 df."""
    extrapolated = 2 * v_b - v_2b
    return (extrapolated, richardson_df(batches)) if extrapolated > v_b else (v_b, batches - 1.0)


def mean_variance(x_in_time_order: ArrayLike, batches: int = BATCHES) -> MeanVariance:
    """Variance of the mean of a time-ordered series by non-overlapping batch means (Schmeiser 1982).

    V_B = s^2(batch means) / B underestimates when the correlation outlasts a batch, by about c / (batch
    length); the Richardson step V = 2 V_B - V_2B removes that first-order bias (batches half as long have
    twice the bias), on the fewer df of `richardson_df`. V is floored at V_B (df = B - 1) and at the
    independent-requests s^2 / n (an estimate below it is noise, not negative correlation). With fewer than
    2 * MIN_BATCH values: s^2 / n.
    """
    x = np.asarray(x_in_time_order, dtype=float).ravel()
    n = x.size
    if n < 2:
        return MeanVariance(NAN, NAN, NAN, 0)
    iid = float(x.var(ddof=1)) / n
    b = min(batches, n // MIN_BATCH)
    if b < 2:
        return MeanVariance(iid, n - 1, 1.0, 0)
    bm, df = float(batch_means(x, b).var(ddof=1)) / b, b - 1.0
    if n >= 2 * b * MIN_BATCH:
        bm, df = richardson(bm, float(batch_means(x, 2 * b).var(ddof=1)) / (2 * b), b)
    var = max(bm, iid)
    return MeanVariance(var, df, var / iid if iid > 0 else 1.0, b)


def _t(levels: np.ndarray, df: float) -> np.ndarray:
    """One-sided t quantiles t_{1-level} (normal for df = inf)."""
    return stats.t.isf(levels, df) if math.isfinite(df) else stats.norm.isf(levels)


# ---------------------------------------------------------------------------------------------- quantiles


@dataclass(frozen=True)
class QuantileBounds:
    estimate: float
    lower: np.ndarray
    upper: np.ndarray
    design_effect: float
    n: int
    df: float = math.inf  # of the rank spread's t quantile (inf: exact binomial ranks)


def quantile_bounds(x_in_time_order: ArrayLike, q: float, levels: np.ndarray, batches: int = BATCHES,
                    df: float | None = None) -> QuantileBounds:
    """One-sided bounds of the q-quantile of a time-ordered series (may hold +inf: failed requests).

    Order-statistic bounds with the rank spread widened by the design effect of the indicators 1{x <= q_hat}
    (batch means): ranks n*q -/+ t_df * sqrt(deff * n * q * (1 - q)); when deff = 1 (no correlation
    beyond independence) the exact binomial ranks of the distribution-free interval. The estimate is the
    inverted-CDF order statistic x_(ceil(n q)), defined when some values are infinite. A bound past the
    smallest value is 0, past the largest +inf. `df` replaces the batch-means df (a comparison of two arms
    uses the Welch-Satterthwaite df of both arms' variances).
    """
    x = np.asarray(x_in_time_order, dtype=float).ravel()
    n = x.size
    if n == 0:
        nan = np.full(levels.shape, NAN)
        return QuantileBounds(NAN, nan, nan, NAN, 0)
    s = np.sort(x)
    est = float(s[max(math.ceil(n * q), 1) - 1])
    mv = mean_variance((x <= est).astype(float), batches)
    deff = mv.design_effect if math.isfinite(mv.design_effect) else 1.0
    used_df = math.inf
    if deff <= 1.0:  # no correlation beyond independence: the exact distribution-free ranks
        lo_rank = stats.binom.ppf(levels, n, q).astype(int)
        hi_rank = stats.binom.isf(levels, n, q).astype(int) + 1
    else:
        used_df = df if df is not None else (mv.df if math.isfinite(mv.df) else math.inf)
        spread = _t(levels, used_df) * math.sqrt(deff * n * q * (1 - q))
        lo_rank = np.floor(n * q - spread).astype(int)  # 1-based rank of the lower bound
        hi_rank = np.ceil(n * q + spread).astype(int) + 1
    padded = np.concatenate([[0.0], s, [math.inf]])
    lower = padded[np.clip(lo_rank, 0, n + 1)]
    upper = padded[np.clip(hi_rank, 0, n + 1)]
    return QuantileBounds(est, lower, upper, deff, n, used_df)


def _sectioning_log_bounds(x: np.ndarray, q: float, level: float, batches: int) -> tuple[float, float] | None:
    """Sectioning (Nakayama 2014) on log values: the variance of the log q-quantile from the spread of the
    q-quantiles of `batches` contiguous sections, with the same Richardson step (and df) as `mean_variance`;
    bounds log q_hat -/+ t_df sqrt(V). None when the values are not all positive and finite or too few."""
    if x.size < 2 * batches * MIN_BATCH or not (np.isfinite(x).all() and (x > 0).all()):
        return None
    lx = np.log(x)

    def var(b: int) -> float:
        qs = np.array([np.quantile(part, q) for part in np.array_split(lx, b)])
        return float(qs.var(ddof=1)) / b

    v, df = richardson(var(batches), var(2 * batches), batches)
    half = float(_t(np.array([level]), df)[0]) * math.sqrt(v)
    est = float(np.quantile(lx, q))
    return math.exp(est - half), math.exp(est + half)


def quantile_estimate(x: np.ndarray, q: float) -> float:
    """The summary figures' q-quantile: interpolated between order statistics when every value is finite, else
    the order statistic at rank ceil(n q) (a failed request's +inf sorts last; interpolating towards it is inf)."""
    if np.isfinite(x).all():
        return float(np.quantile(x, q))
    return float(np.sort(x)[max(math.ceil(x.size * q), 1) - 1])


def quantile_interval(x_in_time_order: ArrayLike, q: float, confidence: float = 0.95,
                      batches: int = BATCHES) -> Interval:
    """Two-sided interval of a quantile robust to send-time correlation (summary figures: p50, p90).

    The union of three intervals at (1 + confidence) / 2 per side: the exact distribution-free order-statistic
    interval of independent requests (so it is never narrower than that), the ranks widened by the design
    effect of `quantile_bounds` (when bounded), and sectioning over send time (`_sectioning_log_bounds`). Each
    of the last two alone under-covers slow drift in a different way (indicators that saturate in a slow
    period, sections shorter than the drift); their union, on the Richardson step's own df, covered 95-96 %
    of simulated drifting runs (bench/bench_gate.py). Greyed out, as the independent-requests interval is,
    with fewer than 10 values beyond the quantile on either side.
    """
    check_confidence(confidence)
    level = (1 - confidence) / 2
    x = np.asarray(x_in_time_order, dtype=float).ravel()
    method = "order-statistic, widened for correlated requests (design effect, sectioning over send time)"
    n = x.size
    if n == 0:
        return Interval(NAN, NAN, NAN, method, 0, confidence, False, "no observations")
    est = quantile_estimate(x, q)
    if n * min(q, 1 - q) < MIN_TAIL_COUNT - 1e-9:
        return Interval(est, NAN, NAN, method, n, confidence, False,
                        f"needs n >= {min_n_for_quantile(q)} for {quantile_label(q)}, have {n}")
    s = np.concatenate([[0.0], np.sort(x), [math.inf]])
    low = float(s[int(stats.binom.ppf(level, n, q))])
    high = float(s[min(int(stats.binom.isf(level, n, q)) + 1, n + 1)])
    qb = quantile_bounds(x, q, np.array([level]), batches)
    if qb.lower[0] > 0 and math.isfinite(qb.upper[0]):
        low, high = min(low, float(qb.lower[0])), max(high, float(qb.upper[0]))
    sect = _sectioning_log_bounds(x, q, level, batches)
    if sect is not None:
        low, high = min(low, sect[0]), max(high, sect[1])
    ok = low > 0 and math.isfinite(high)
    note = "" if ok else "too few values beyond the quantile for an interval"
    return Interval(est, low if ok else NAN, high if ok else NAN, method, n, confidence, ok, note)


# ---------------------------------------------------------------------------------------------- means


def mean_interval(x_in_time_order: ArrayLike, confidence: float = 0.95, batches: int = BATCHES) -> Interval:
    """Mean of a time-ordered series (e.g. throughput per time bin) with a batch-means t interval."""
    check_confidence(confidence)
    x = np.asarray(x_in_time_order, dtype=float).ravel()
    mv = mean_variance(x, batches)
    method = f"batch means ({mv.batches} batches over send time)"
    if not math.isfinite(mv.variance):
        return Interval(float(x.mean()) if x.size else NAN, NAN, NAN, method, x.size, confidence, False,
                        "needs at least 2 values")
    est = float(x.mean())
    half = float(_t(np.array([(1 - confidence) / 2]), mv.df)[0]) * math.sqrt(mv.variance)
    return Interval(est, est - half, est + half, method, x.size, confidence)


@dataclass(frozen=True)
class DiffBounds:
    estimate: float
    lower: np.ndarray
    upper: np.ndarray
    se: float
    df: float
    note: str = ""


def _t_bounds(est: float, se: float, df: float, levels: np.ndarray, note: str = "") -> DiffBounds:
    half = _t(levels, df) * se if se > 0 else np.zeros(levels.shape)
    return DiffBounds(est, est - half, est + half, se, df, note)


def paired_mean_bounds(d: ArrayLike, base_order: ArrayLike, cand_order: ArrayLike, levels: np.ndarray,
                       batches: int = BATCHES) -> DiffBounds:
    """Bounds of the mean of per-item differences d_i = y_i - x_i (log ratios), each arm correlated in its own
    send order.

    Item effects cancel in d; what remains is the baseline's noise, correlated in the baseline's send order,
    and the candidate's, correlated in the candidate's. Batch means of d in the baseline's order see the
    baseline's correlation plus the candidate's noise as if independent, and vice versa, so
    var = var_base_order + var_cand_order - var_independent (Var(A + B) for independent arms), floored at the
    larger of the two (arms sent in the same order: one ordering already sees both). df: Welch-Satterthwaite of
    the two variances, (V_b + V_c - s^2/n)^2 / (V_b^2 / df_b + V_c^2 / df_c), or that of the larger one. The sum
    is taken only when both orders see variance beyond s^2 / n; two estimates within TIE of each other are equal
    (both at the floor, say), and then the fewer df count, so a last-bit difference never picks the branch.
    """
    d_arr = np.asarray(d, dtype=float).ravel()
    n = d_arr.size
    if n < 2:
        return DiffBounds(float(d_arr.mean()) if n else NAN, np.full(levels.shape, NAN),
                          np.full(levels.shape, NAN), NAN, NAN, "needs at least 2 paired items")
    vb = mean_variance(d_arr[np.argsort(np.asarray(base_order), kind="stable")], batches)
    vc = mean_variance(d_arr[np.argsort(np.asarray(cand_order), kind="stable")], batches)
    iid = float(d_arr.var(ddof=1)) / n
    tie = TIE * iid  # the floor s^2 / n of a reordered series equals iid but for rounding
    if min(vb.variance, vc.variance) > iid + tie:  # both orders see excess: Welch-Satterthwaite df of the sum
        combined = vb.variance + vc.variance - iid
        spread = vb.variance**2 / vb.df + vc.variance**2 / vc.df
        var, df = combined, (combined**2 / spread if spread > 0 else min(vb.df, vc.df))
    else:  # the larger; on a tie (both at the floor) the fewer df, so rounding never picks the branch
        var = max(vb.variance, vc.variance)
        df = min(m.df for m in (vb, vc) if m.variance >= var - tie)
    return _t_bounds(float(d_arr.mean()), math.sqrt(var), df, levels)


def clustered_diff_bounds(d: ArrayLike, clusters: ArrayLike, levels: np.ndarray) -> DiffBounds:
    """Bounds of a mean per-item difference with a cluster-robust (CR1) standard error, t with G - 1 df.

    Items sharing a passage (the suite's `cluster`) are correlated; one item per cluster is the plain SE.
    """
    iv = clustered_mean_interval(d, clusters)
    if not iv.available:
        nan = np.full(levels.shape, NAN)
        return DiffBounds(iv.estimate, nan, nan, NAN, NAN, iv.note)
    return _t_bounds(iv.estimate, iv.se, iv.clusters - 1, levels)


def run_level(x_runs: ArrayLike, y_runs: ArrayLike, levels: np.ndarray) -> DiffBounds:
    """Welch bounds of mean(y_runs) - mean(x_runs) over per-run figures (Satterthwaite df); 2+ runs per arm."""
    x, y = np.asarray(x_runs, dtype=float), np.asarray(y_runs, dtype=float)
    if x.size < 2 or y.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        nan = np.full(levels.shape, NAN)
        return DiffBounds(NAN, nan, nan, NAN, NAN, "needs 2+ runs with finite figures per arm")
    vx, vy = float(x.var(ddof=1)) / x.size, float(y.var(ddof=1)) / y.size
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1)) if se > 0 else math.inf
    return _t_bounds(float(y.mean() - x.mean()), se, df, levels)


def run_level_interval(per_run: ArrayLike, estimate: float, confidence: float = 0.95, log: bool = False
                       ) -> Interval:
    """Interval of a pooled figure from the spread of its per-run values: `estimate` -/+ t(R - 1) sd / sqrt(R)
    (on the log scale when `log`: quantiles and other positive figures that drift multiplicatively).

    Assumes the R runs independent (separated or interleaved in time) and their figures roughly normal; then the
    spread includes drift slower than a run, which no within-run interval can see (one run's tokens/s interval
    covered 88-97 % of simulated drifting runs, three runs' 95-96 %: bench/bench_gate.py). Unavailable with
    fewer than 2 runs or a figure that is not finite (or not positive on the log scale).
    """
    check_confidence(confidence)
    v = np.asarray(per_run, dtype=float).ravel()
    r = v.size
    method = f"run level (t on {r} per-run figures{', log scale' if log else ''})"
    valid = r >= 2 and bool(np.isfinite(v).all()) and (not log or (bool((v > 0).all()) and estimate > 0))
    if not valid or not math.isfinite(estimate):
        return Interval(estimate, NAN, NAN, method, r, confidence, False, "needs 2+ runs with finite figures")
    centre, spread = (math.log(estimate), np.log(v)) if log else (estimate, v)
    half = float(stats.t.isf((1 - confidence) / 2, r - 1)) * float(spread.std(ddof=1)) / math.sqrt(r)
    low, high = centre - half, centre + half
    if log:
        low, high = math.exp(low), math.exp(high)
    return Interval(estimate, low, high, method, r, confidence)


# ---------------------------------------------------------------------------------------------- rates


@dataclass(frozen=True)
class RateBounds:
    rate: float
    lower: np.ndarray
    upper: np.ndarray
    design_effect: float
    n: int


def rate_bounds(events_in_time_order: ArrayLike, levels: np.ndarray, batches: int = BATCHES) -> RateBounds:
    """Exact Clopper-Pearson one-sided bounds of a rate at the design-effect-adjusted count.

    With independent requests (design effect 1) these are the exact binomial bounds, valid at any n. Storms
    (throttles or errors clustered in time) inflate the variance by the design effect deff, estimated by batch
    means and floored at 1; the bounds are then those of k/deff events in n/deff trials (Kish's effective n).
    """
    e = np.asarray(events_in_time_order, dtype=float).ravel()
    n = e.size
    if n == 0:
        nan = np.full(levels.shape, NAN)
        return RateBounds(NAN, nan, nan, NAN, 0)
    k = float(e.sum())
    deff = mean_variance(e, batches).design_effect if 0 < k < n else 1.0
    deff = deff if math.isfinite(deff) else 1.0
    ke, ne = k / deff, n / deff
    lower = np.zeros(levels.shape) if k == 0 else stats.beta.ppf(levels, ke, ne - ke + 1)
    upper = np.ones(levels.shape) if k == n else stats.beta.isf(levels, ke + 1, ne - ke)
    return RateBounds(k / n, lower, upper, deff, n)
