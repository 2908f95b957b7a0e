"""What every command says about one decided comparison: its verdict label, interval, change in words and JSON.

The verdict comes from the engine (`evals.results.verdicts.judge`), never from a command: compare, the
report's comparisons and the terminal headline all print `label`/`describe` of the same `Decided`, so they
cannot disagree on the same data. Labels:

- "worse": FAIL, the data show a change worse than the margin (Holm-adjusted, one-sided, at alpha);
- "better": PASS, and even the worse-side bound is better than the margin's mirror image (a real improvement);
- "within the margin": PASS otherwise (no change worth acting on);
- "inconclusive": neither ruled in nor out (too few samples, or the interval straddles the margin's edge).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evals.results.metrics import METRICS
from evals.results.verdicts import Decided
from evals.stats import Direction, MarginKind, Verdict

WORSE, BETTER, WITHIN, INCONCLUSIVE = "worse", "better", "within the margin", "inconclusive"
VERDICTS = (WORSE, BETTER, WITHIN, INCONCLUSIVE)


def label(d: Decided) -> str:
    if d.verdict is Verdict.FAIL:
        return WORSE
    if d.verdict is Verdict.INCONCLUSIVE:
        return INCONCLUSIVE
    lower_better = d.spec.direction is Direction.LOWER_IS_BETTER
    beyond_mirror = d.worse_bound < -d.edge if lower_better else d.worse_bound > -d.edge
    return BETTER if d.edge != 0 and beyond_mirror else WITHIN


def interval(d: Decided) -> tuple[float, float, float]:
    """(estimate, low, high) on the shown scale (ratio or difference): the one-sided (1 - alpha) bounds the
    verdict is decided on, i.e. a two-sided 1 - 2*alpha interval, so an interval wholly beyond the margin is what
    "worse" means and one wholly inside it what "within" means (Holm only makes "worse" stricter)."""
    b = d.measured.bounds
    try:
        lo, hi = b.at(d.spec.alpha)
    except ValueError:
        lo = hi = math.nan
    return d.shown(b.estimate), d.shown(lo), d.shown(hi)


def change_words(d: Decided) -> str:
    """The estimate in plain words: "10.9 % slower", "2.0 points lower", "no change"."""
    est = d.shown(d.measured.bounds.estimate)
    if not math.isfinite(est):
        return "no estimate"
    metric = METRICS[d.spec.metric]
    if d.ratio:
        change = (est - 1) * 100
        up, down = ("slower", "faster") if metric.unit == "ms" else ("higher", "lower")
        return "no change" if change == 0 else f"{abs(change):.1f} % {up if change > 0 else down}"
    return "no change" if est == 0 else f"{abs(est) * 100:.1f} points {'higher' if est > 0 else 'lower'}"


def margin_words(d: Decided) -> str:
    if d.spec.margin_kind is MarginKind.RELATIVE:
        return f"{d.spec.margin * 100:g} %"
    if d.ratio:  # an absolute margin on a ratio metric is in the metric's unit (e.g. 50 ms)
        return f"{d.spec.margin:g} {METRICS[d.spec.metric].unit}"
    return f"{d.spec.margin * 100:g} points"


def describe(d: Decided) -> str:
    """One line: the change, the verdict against the margin, and why when it is not a clear answer."""
    text = f"{change_words(d)}: {label(d)} (margin {margin_words(d)})"
    return text if d.verdict is not Verdict.INCONCLUSIVE else f"{text}: {d.reason}"


def finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: None stands for 'not available'."""
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def finding_json(d: Decided) -> dict[str, Any]:
    """One decided (cell, metric) for compare.json, summary.json and the terminal."""
    metric, b = METRICS[d.spec.metric], d.measured.bounds
    est, lo, hi = interval(d)
    return {
        "metric": metric.name, "label": metric.label, "unit": metric.unit, "direction": d.spec.direction.value,
        "base": finite(d.measured.base_value), "cand": finite(d.measured.cand_value),
        "n_base": b.n_base, "n_cand": b.n_cand, "dropped": b.dropped, "unit_of_analysis": d.measured.unit,
        "scale": "ratio" if d.ratio else "difference", "estimate": finite(est), "low": finite(lo),
        "high": finite(hi), "percent_change": finite((est - 1) * 100) if d.ratio else None,
        "confidence": 1 - d.spec.alpha, "p": finite(d.p), "p_adjusted": finite(d.p_adjusted),
        "margin": d.spec.margin, "margin_kind": d.spec.margin_kind.value, "edge": finite(d.shown(d.edge)),
        "method": b.method, "uncertainty": str(b.uncertainty), "available": not math.isnan(d.worse_bound),
        "note": b.note, "reason": d.reason, "gate_verdict": d.verdict.value, "verdict": label(d),
        "words": describe(d),
    }


def counts(decided: Sequence[Decided]) -> dict[str, int]:
    labels = [label(d) for d in decided]
    return {v: labels.count(v) for v in VERDICTS}
