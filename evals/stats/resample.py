"""Sample arrays checked before a comparison, and the bootstrap bounds and p-values the comparisons share.

scipy.stats.bootstrap does the resampling; what is added here is one set of resamples giving the two-sided and
both one-sided bounds, the fallback to the percentile method when BCa is NaN, and p-values by test inversion.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .results import NAN


def as_values(values: ArrayLike, name: str) -> np.ndarray:
    """One arm's values as a flat float array; a NaN (a failed request left in) is the caller's mistake."""
    a = np.asarray(values, dtype=float).ravel()
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN; drop failed requests before comparing")
    return a


def log_positive(values: np.ndarray, name: str) -> np.ndarray:
    """Logs of latencies or per-run summaries, which must be positive."""
    if (values <= 0).any():
        raise ValueError(f"{name} must be positive to take logs")
    return np.log(values)


def bootstrap_pvalues(distribution: np.ndarray, null: float) -> tuple[float, float, float]:
    """Percentile-bootstrap p-values (test inversion): share of resamples on the null's side."""
    d = distribution[np.isfinite(distribution)]
    b = d.size
    if b == 0:
        return NAN, NAN, NAN
    p_greater = (1 + np.count_nonzero(d <= null)) / (b + 1)
    p_less = (1 + np.count_nonzero(d >= null)) / (b + 1)
    return float(min(1.0, 2 * min(p_greater, p_less))), float(p_greater), float(p_less)


def bootstrap_bounds(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    confidence: float,
    seed: int,
    n_resamples: int,
    paired: bool = False,
) -> tuple[float, float, float, float, np.ndarray, str]:
    """Two-sided and one-sided bootstrap bounds from one set of resamples; BCa, percentile if BCa is NaN."""
    method = "BCa"
    kw = dict(paired=paired, vectorized=True, batch=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(data, statistic, n_resamples=n_resamples, confidence_level=confidence,
                              method=method, rng=np.random.default_rng(seed), **kw)
        ci = res.confidence_interval
        if not (np.isfinite(ci.low) and np.isfinite(ci.high)):
            method = "percentile"
            res = stats.bootstrap(data, statistic, n_resamples=0, bootstrap_result=res,
                                  confidence_level=confidence, method=method,
                                  rng=np.random.default_rng(seed), **kw)
            ci = res.confidence_interval

        def one_sided(alt: str) -> float:
            r = stats.bootstrap(data, statistic, n_resamples=0, bootstrap_result=res,
                                confidence_level=confidence, method=method, alternative=alt,
                                rng=np.random.default_rng(seed), **kw)
            c = r.confidence_interval
            return float(c.low if alt == "greater" else c.high)

        lo1, hi1 = one_sided("greater"), one_sided("less")
    return float(ci.low), float(ci.high), lo1, hi1, np.asarray(res.bootstrap_distribution), method
