"""Intervals for one group: proportions, means, percentiles and inter-token latency.

Methods follow docs/statistics.md: Wilson for 0/1 scores (Brown, Cai & DasGupta 2001), cluster-robust standard
errors for repeated items (Miller 2024, arXiv 2411.00640), BCa bootstrap for continuous means, and
distribution-free order-statistic intervals for latency percentiles (bootstrapping tails under-covers).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .results import NAN, ClusteredInterval, Interval, check_confidence

MIN_TAIL_COUNT = 10  # a percentile is shown only with >= 10 observations beyond it on each side


def _as_1d(values: ArrayLike, name: str = "values") -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; drop failed requests before computing statistics")
    return arr


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for k successes in n trials (scipy ``binomtest(...).proportion_ci``)."""
    check_confidence(confidence)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Interval(NAN, NAN, NAN, "wilson", 0, confidence, False, "no observations")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(k / n, float(ci.low), float(ci.high), "wilson", int(n), confidence)


def clustered_mean_interval(
    scores: ArrayLike, clusters: ArrayLike | None = None, confidence: float = 0.95
) -> ClusteredInterval:
    """Mean with a cluster-robust (CR1) standard error, cluster = item or passage.

    Repeats of one item are correlated, so the plain SE is too small (Miller 2024, eq. 4). The CR1 factor
    G/(G-1) makes the formula equal the plain sample SE when every cluster has one score; the interval uses a
    t quantile with G-1 degrees of freedom. scipy has no clustered SE, hence the few lines below.
    """
    check_confidence(confidence)
    s = _as_1d(scores, "scores")
    n = s.size
    if clusters is None:
        labels = np.arange(n)
    else:
        labels = np.asarray(clusters).ravel()
        if labels.size != n:
            raise ValueError(f"scores and clusters differ in length ({n} vs {labels.size})")
    if n == 0:
        return ClusteredInterval(NAN, NAN, NAN, "clustered-se", 0, confidence, False, "no observations")
    _, inverse = np.unique(labels, return_inverse=True)
    g = int(inverse.max()) + 1
    mean = float(s.mean())
    repeats = n / g
    if g < 2:
        return ClusteredInterval(
            mean, NAN, NAN, "clustered-se", n, confidence, False,
            "needs at least 2 clusters for an interval", clusters=g, repeats=repeats,
        )
    resid_sums = np.bincount(inverse, weights=s - mean, minlength=g)
    se = math.sqrt(g / (g - 1) * float(np.sum(resid_sums**2))) / n
    if g == n:
        method, note = "plain-se", "every cluster has one score: plain standard error"
    else:
        method, note = "clustered-se", ""
    if se == 0.0:
        note = (note + "; " if note else "") + "all scores equal: zero-width interval"
    half = float(stats.t.ppf(0.5 + confidence / 2, g - 1)) * se
    return ClusteredInterval(
        mean, mean - half, mean + half, method, n, confidence, True, note, clusters=g, repeats=repeats, se=se,
    )


BOOTSTRAP_BATCH = 500


def bootstrap_mean_interval(
    values: ArrayLike, confidence: float = 0.95, seed: int = 0, n_resamples: int = 9999
) -> Interval:
    """BCa bootstrap interval of a mean (scipy ``bootstrap``, fixed seed); percentile when BCa gives NaN.

    BCa is NaN when the jackknife is degenerate (e.g. all values equal); the note says when it fell back.
    """
    check_confidence(confidence)
    x = _as_1d(values)
    n = x.size
    if n == 0:
        return Interval(NAN, NAN, NAN, "bootstrap-bca", 0, confidence, False, "no observations")
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, NAN, NAN, "bootstrap-bca", n, confidence, False, "needs at least 2 values")
    method, note = "bootstrap-bca", ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DegenerateDataWarning is handled by the fallback below
        # batch bounds memory (resamples and BCa's jackknife) to ~500 x n values instead of 9,999 x n
        res = stats.bootstrap(
            (x,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
            method="BCa", rng=np.random.default_rng(seed), batch=BOOTSTRAP_BATCH,
        )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isnan(low) or math.isnan(high):
            res = stats.bootstrap(
                (x,), np.mean, n_resamples=0, confidence_level=confidence, method="percentile",
                bootstrap_result=res, rng=np.random.default_rng(seed), batch=BOOTSTRAP_BATCH,
            )
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
            method, note = "bootstrap-percentile", "BCa gave NaN (degenerate data); percentile bootstrap used"
    return Interval(mean, low, high, method, n, confidence, True, note)


def quantile_label(q: float) -> str:
    """``0.99`` -> ``"p99"``, ``0.999`` -> ``"p99.9"``."""
    return f"p{round(q * 100, 6):g}"


def min_n_for_quantile(q: float) -> int:
    """Smallest n with at least 10 observations on each side of the q-quantile."""
    return math.ceil(MIN_TAIL_COUNT / min(q, 1.0 - q) - 1e-9)


def percentile_interval(x: ArrayLike, q: float, confidence: float = 0.95) -> Interval:
    """Distribution-free order-statistic interval of the q-quantile (scipy ``quantile_test``).

    The interval of ``quantile_test(x, q=..., p=q).confidence_interval()`` does not depend on the hypothesised
    value, so the point estimate is passed. Greyed out (``available=False``) unless n*q >= 10 and n*(1-q) >= 10.
    The point estimate is ``numpy.quantile`` with linear interpolation.
    """
    check_confidence(confidence)
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    data = _as_1d(x)
    n = data.size
    method = "order-statistic"
    if n == 0:
        return Interval(NAN, NAN, NAN, method, 0, confidence, False, "no observations")
    estimate = float(np.quantile(data, q))
    need = min_n_for_quantile(q)
    if n * min(q, 1.0 - q) < MIN_TAIL_COUNT - 1e-9:
        return Interval(
            estimate, NAN, NAN, method, n, confidence, False,
            f"needs n >= {need} for {quantile_label(q)}, have {n}",
        )
    ci = stats.quantile_test(data, q=estimate, p=q).confidence_interval(confidence_level=confidence)
    low, high = float(ci.low), float(ci.high)
    if math.isnan(low) or math.isnan(high):
        return Interval(estimate, low, high, method, n, confidence, False, "too few values for this confidence")
    return Interval(estimate, low, high, method, n, confidence)


@dataclass(frozen=True)
class ItlSummary:
    """Inter-token latency summarised per request first, then across requests.

    ``mean`` is the mean of per-request mean gaps (BCa bootstrap over requests); the percentiles are of the
    per-request means. ``skipped`` counts requests with no gap (one content delta or none).
    """

    n_requests: int
    n_gaps: int
    skipped: int
    mean: Interval
    p50: Interval
    p90: Interval
    p99: Interval


def itl_summary(
    per_request_gaps: Sequence[ArrayLike], confidence: float = 0.95, seed: int = 0
) -> ItlSummary:
    """Summarise inter-token gaps: gaps within one request are correlated, so each request counts once."""
    means: list[float] = []
    n_gaps = 0
    skipped = 0
    for gaps in per_request_gaps:
        g = _as_1d(gaps, "gaps")
        if g.size == 0:
            skipped += 1
            continue
        n_gaps += g.size
        means.append(float(g.mean()))
    m = np.asarray(means)
    return ItlSummary(
        n_requests=m.size,
        n_gaps=n_gaps,
        skipped=skipped,
        mean=bootstrap_mean_interval(m, confidence, seed),
        p50=percentile_interval(m, 0.5, confidence),
        p90=percentile_interval(m, 0.9, confidence),
        p99=percentile_interval(m, 0.99, confidence),
    )
