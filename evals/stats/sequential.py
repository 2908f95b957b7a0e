"""Anytime-valid confidence sequence for a bounded mean, for "run until the interval is narrow enough".

A fixed-n interval re-checked after every request loses its coverage; a confidence sequence holds at every n
simultaneously. This is the predictable plug-in empirical-Bernstein sequence of Waudby-Smith & Ramdas (2023,
JRSSB, Thm 2), in the family of Howard et al. (2021, arXiv 1810.08240). scipy has none, hence hand-written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .results import check_confidence


@dataclass(frozen=True)
class ConfidenceSequence:
    """Running mean and anytime-valid bounds after each observation (arrays of length n)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    confidence: float
    method: str = "empirical-bernstein-cs"


def empirical_bernstein_cs(
    values: ArrayLike, confidence: float = 0.95, lower: float = 0.0, upper: float = 1.0, trunc: float = 0.5
) -> ConfidenceSequence:
    """Confidence sequence for the mean of values in ``[lower, upper]`` (rescaled to [0, 1] internally).

    Works on a 1-D sequence or, along the last axis, on many sequences at once.
    """
    check_confidence(confidence)
    x = np.asarray(values, dtype=float)
    if x.shape[-1] == 0:
        empty = np.empty(x.shape)
        return ConfidenceSequence(empty, empty, empty, confidence)
    span = upper - lower
    if span <= 0:
        raise ValueError("upper must exceed lower")
    z = (x - lower) / span
    if (z < 0).any() or (z > 1).any():
        raise ValueError(f"values must lie in [{lower}, {upper}]")
    alpha = 1 - confidence
    log_term = math.log(2 / alpha)
    t = np.arange(1, z.shape[-1] + 1, dtype=float)
    csum = np.cumsum(z, axis=-1)
    mu_hat = (0.5 + csum) / (t + 1)  # regularised running mean after t values
    mu_prev = np.concatenate([np.full((*z.shape[:-1], 1), 0.5), mu_hat[..., :-1]], axis=-1)
    var_hat = (0.25 + np.cumsum((z - mu_hat) ** 2, axis=-1)) / (t + 1)
    var_prev = np.concatenate([np.full((*z.shape[:-1], 1), 0.25), var_hat[..., :-1]], axis=-1)
    lam = np.minimum(np.sqrt(2 * log_term / (var_prev * t * np.log(t + 1))), trunc)
    psi = (-np.log1p(-lam) - lam) / 4
    v = 4 * (z - mu_prev) ** 2
    lam_sum = np.cumsum(lam, axis=-1)
    center = np.cumsum(lam * z, axis=-1) / lam_sum
    width = (log_term + np.cumsum(v * psi, axis=-1)) / lam_sum
    low = np.maximum.accumulate(np.clip(center - width, 0, 1), axis=-1)
    high = np.minimum.accumulate(np.clip(center + width, 0, 1), axis=-1)
    mean = csum / t
    return ConfidenceSequence(lower + span * mean, lower + span * low, lower + span * high, confidence)
