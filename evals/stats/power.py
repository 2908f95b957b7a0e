"""Minimum detectable effects: what a comparison of this size could have seen, so that "no difference" is told
apart from "too few samples" (normal approximation at the usual alpha 0.05 and power 0.8).
"""

from __future__ import annotations

import math

from scipy import stats


def z_sum(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def minimum_detectable_effect(sd_diff: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """(z_{1-alpha/2} + z_power) * sd / sqrt(n): about 2.8 sd/sqrt(n) at alpha .05, power .8."""
    if n <= 0:
        return math.inf
    return z_sum(alpha, power) * sd_diff / math.sqrt(n)


def mde_proportion_diff(p: float, n_x: int, n_y: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest detectable difference of two independent proportions near ``p`` (absolute, 0-1 scale)."""
    if n_x <= 0 or n_y <= 0:
        return math.inf
    return z_sum(alpha, power) * math.sqrt(p * (1 - p) * (1 / n_x + 1 / n_y))


def mde_log_ratio(
    sd_log_x: float, sd_log_y: float, n_x: int, n_y: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest detectable ratio of geometric means (e.g. 1.07 = 7 % slower), from log-latency sds."""
    if n_x <= 0 or n_y <= 0:
        return math.inf
    return math.exp(z_sum(alpha, power) * math.sqrt(sd_log_x**2 / n_x + sd_log_y**2 / n_y))
