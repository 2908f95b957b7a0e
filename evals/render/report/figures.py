"""Small conversions shared by the report's modules: stats results to JSON-ready dicts.

Every number the report shows goes through `interval_dict`/`comparison_dict`, so the HTML and summary.json
carry the same fields (estimate, bounds, method, n, availability and the reason when greyed out).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evals.stats import Comparison, Interval


def clean(value: Any) -> Any:
    """NaN and infinities become None so summary.json stays strict JSON; numpy scalars become Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def interval_dict(iv: Interval) -> dict[str, Any]:
    out = {
        "estimate": clean(iv.estimate),
        "low": clean(iv.low),
        "high": clean(iv.high),
        "method": iv.method,
        "n": iv.n,
        "confidence": iv.confidence,
        "available": bool(iv.available),
        "note": iv.note,
    }
    for extra in ("clusters", "repeats", "se"):
        if hasattr(iv, extra):
            out[extra] = clean(getattr(iv, extra))
    return out


def comparison_dict(c: Comparison) -> dict[str, Any]:
    return {
        "estimate": clean(c.estimate),
        "low": clean(c.low),
        "high": clean(c.high),
        "p_two_sided": clean(c.p_two_sided),
        "scale": str(c.scale),
        "method": c.method,
        "n_x": c.n_x,
        "n_y": c.n_y,
        "confidence": c.confidence,
        "mde": clean(c.mde),
        "available": bool(c.available),
        "note": c.note,
    }
