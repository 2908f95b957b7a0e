"""Screen every (cell, metric) of a comparison: estimates, intervals, BH-adjusted p, MDE and a plain verdict.

Benjamini-Hochberg (false discovery rate) across all cells and metrics suits a report that people scan for
differences worth a look; the CI gate uses Holm instead. The verdict separates "no significant difference"
(the comparison could have seen an effect of the reference margin) from "too few samples" (it could not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evals import stats
from evals.results.arms import Matched
from evals.results.metrics import METRICS, Metric, MetricComparison, compare_metric, values_of
from evals.results.rundata import CellKey
from evals.stats import Direction, Scale

BETTER, WORSE = "better", "worse"
NO_DIFFERENCE, TOO_FEW = "no significant difference", "too few samples"
VERDICTS = (WORSE, BETTER, NO_DIFFERENCE, TOO_FEW)


@dataclass(frozen=True)
class Row:
    """One metric of one cell, screened."""

    cell: CellKey
    result: MetricComparison
    p_adjusted: float  # Benjamini-Hochberg, two-sided
    verdict: str
    reference_margin: float
    extra: Mapping[str, Any]


def verdict_of(result: MetricComparison, p_adjusted: float, alpha: float, reference_margin: float) -> str:
    c = result.comparison
    if not c.available or math.isnan(p_adjusted) or math.isnan(c.estimate):
        return TOO_FEW
    if p_adjusted < alpha:
        above = c.estimate > c.null
        better_when_above = result.metric.direction is Direction.HIGHER_IS_BETTER
        return BETTER if above == better_when_above else WORSE
    return TOO_FEW if result.mde_beyond(reference_margin) else NO_DIFFERENCE


def _latency_extras(base: Sequence[dict[str, Any]], cand: Sequence[dict[str, Any]], confidence: float
                    ) -> dict[str, Any]:
    """Hodges-Lehmann shift (ms) and Mann-Whitney A = P(candidate slower): robust companions to the ratio."""
    metric = METRICS["latency"]
    xs, ys = values_of(metric, base), values_of(metric, cand)
    if len(xs) < 2 or len(ys) < 2:
        return {}
    hl = stats.hodges_lehmann_shift(xs, ys, confidence)
    mw = stats.mann_whitney_effect(xs, ys)
    return {
        "hodges_lehmann_ms": {"estimate": hl.estimate, "low": hl.low, "high": hl.high, "note": hl.note},
        "mann_whitney_a": mw.a,
    }


def screen(matched: Matched, metrics: Sequence[Metric], margins: Mapping[str, float], alpha: float = 0.05
           ) -> list[Row]:
    """Compare every metric with data in every matched cell; BH-adjust the two-sided p-values together."""
    confidence = 1 - alpha
    found: list[tuple[CellKey, MetricComparison, dict[str, Any]]] = []
    for cell, (base, cand) in matched.cells.items():
        for metric in metrics:
            result = compare_metric(metric, base, cand, confidence)
            if result.n_base == 0 and result.n_cand == 0:
                continue  # e.g. TTFT of a non-streaming API, accuracy of an unscored suite
            extra = _latency_extras(base, cand, confidence) if metric.name == "latency" else {}
            found.append((cell, result, extra))
    adjusted = stats.benjamini_hochberg(np.array([r.comparison.p_two_sided for _, r, _ in found], dtype=float))
    rows = []
    for (cell, result, extra), p_adj in zip(found, adjusted, strict=True):
        margin = margins.get(result.metric.name, math.nan)
        rows.append(Row(cell, result, float(p_adj), verdict_of(result, float(p_adj), alpha, margin), margin, extra))
    return rows


def finite(value: float) -> float | None:
    """JSON has no NaN or infinity: None stands for 'not available'."""
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def row_json(row: Row) -> dict[str, Any]:
    r, c = row.result, row.result.comparison
    pct = (c.estimate - 1) * 100 if c.scale is Scale.RATIO and math.isfinite(c.estimate) else None
    return {
        "metric": r.metric.name, "label": r.metric.label, "unit": r.metric.unit,
        "direction": r.metric.direction.value, "base": finite(r.base_value), "cand": finite(r.cand_value),
        "n_base": r.n_base, "n_cand": r.n_cand, "unit_of_analysis": r.unit_of_analysis,
        "scale": c.scale.value, "estimate": finite(c.estimate), "low": finite(c.low), "high": finite(c.high),
        "percent_change": finite(pct) if pct is not None else None, "confidence": c.confidence,
        "p_two_sided": finite(c.p_two_sided), "p_bh": finite(row.p_adjusted), "mde": finite(r.mde),
        "reference_margin": finite(row.reference_margin), "method": c.method, "available": c.available,
        "note": c.note, "verdict": row.verdict,
        "extra": {k: ({kk: finite(vv) if isinstance(vv, float) else vv for kk, vv in v.items()}
                      if isinstance(v, dict) else finite(v)) for k, v in row.extra.items()},
    }
