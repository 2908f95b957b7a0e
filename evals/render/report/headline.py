"""The answer first: for each dimension that varies (region, API, tier, sweep level), its levels ranked on latency
p50/p90, TTFT p50 (streamed requests) and accuracy, each against the best level with an interval and a verdict.

Records of a level are pooled over the other dimensions (in a full grid every level holds the same mix). The
best level is the one with the best point estimate; every other level is compared with it by the one verdict
engine (`evals.results.verdicts.judge`, margins from the rules file, Holm over the levels of each metric).
Picking the best from the same data favours it a little (the winner's curse): the Comparisons section tests
against a reference fixed in advance, and a close second stays "within the margin" rather than being called
slower.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evals.results import summaries, verdicts
from evals.results.findings import BETTER, INCONCLUSIVE, WITHIN, WORSE, interval, margin_words
from evals.results.findings import label as verdict_label
from evals.results.metrics import METRICS
from evals.results.rules import load_rules, questions
from evals.results.table import RecordTable

from .cells import score_interval
from .figures import interval_dict

HEADLINE_METRICS = {  # metric -> label
    "latency_p50": "p50 latency",
    "latency_p90": "p90 latency",
    "ttft_p50": "p50 TTFT",
    "accuracy": "accuracy",
}
DIMENSIONS = {"region": "region", "api": "API", "tier": "tier", "load_level": "sweep level"}


def _figure(metric: str, table: RecordTable) -> dict[str, Any] | None:
    """A level's own figure with its interval, the registry's one-arm summary: the quantile's interval (order
    statistics widened for correlated requests, values in send order), accuracy's interval."""
    if metric == "accuracy":
        return score_interval(table)
    iv = summaries.quantile_figure(METRICS[metric], table)
    return interval_dict(iv) if iv is not None else None


def _levels(table: RecordTable, dim: str, level_name: str) -> dict[str, RecordTable]:
    """Records per level of `dim` (records without one left out), keyed by the level's name."""
    if dim != "load_level":
        return {str(key[0]): table.take(rows) for key, rows in table.groups((dim,)) if key[0] is not None}
    levels = table.num("load_level")
    masks: dict[str, np.ndarray] = {}
    for level in np.unique(levels[~np.isnan(levels)]).tolist():
        name = f"{level_name} {float(level):g}"
        masks[name] = masks.get(name, np.zeros(len(table), dtype=bool)) | (levels == level)
    return {name: table.take(mask) for name, mask in masks.items()}


def _rank_metric(metric: str, levels: Mapping[str, RecordTable]) -> dict[str, Any] | None:
    figures = {lvl: f for lvl, recs in levels.items() if (f := _figure(metric, recs)) and f["estimate"] is not None}
    if len(figures) < 2:
        return None
    higher_better = metric == "accuracy"
    order = sorted(figures, key=lambda lvl: (-figures[lvl]["estimate"] if higher_better else figures[lvl]["estimate"],
                                             lvl))
    best = order[0]
    others: list[dict[str, Any]] = [{"level": lvl, "figure": figures[lvl]} for lvl in order[1:]]
    rules = load_rules()
    cells = {lvl: (levels[best], levels[lvl]) for lvl in order[1:]}
    decided, _ = verdicts.judge(questions(rules, [METRICS[metric]]), cells, min_runs=rules.min_runs,
                                batches=rules.batches)
    by_level = {d.cell: d for d in decided}
    for o in others:
        _fill(o, by_level.get(o["level"]))
    return {"metric": metric, "label": HEADLINE_METRICS[metric], "best": {"level": best, "figure": figures[best]},
            "others": others}


def _clean(v: float) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _fill(o: dict[str, Any], d: verdicts.Decided | None) -> None:
    """The engine's verdict of one level against the best, as JSON-ready fields."""
    if d is None:
        o.update(estimate=None, low=None, high=None, scale=None, p_adjusted=None, margin=None, method=None,
                 unit=None, note="no values", verdict=INCONCLUSIVE, reason="no values")
        return
    est, lo, hi = interval(d)
    if math.isnan(d.worse_bound) or not math.isfinite(est) or (d.ratio and est <= 0):
        est = lo = hi = math.nan  # no estimate the engine stands behind (its reason says why), not "-100 %"
    elif d.ratio and not (lo > 0 and math.isfinite(hi)):
        lo = hi = math.nan  # an open-ended interval is no interval
    o.update(estimate=_clean(est), low=_clean(lo), high=_clean(hi), scale="ratio" if d.ratio else "difference",
             p_adjusted=_clean(d.p_adjusted), margin=margin_words(d), method=d.measured.bounds.method,
             unit=d.measured.unit, note=d.measured.bounds.note, verdict=verdict_label(d), reason=d.reason)


def ranking(table: RecordTable, level_name: str = "level") -> list[dict[str, Any]]:
    """Per varying dimension: its levels and each headline metric's ranking (measured records only).

    `level_name` names a sweep's levels ("concurrency" or "rate")."""
    measured = table.measured()
    out = []
    for dim, label in DIMENSIONS.items():
        levels = _levels(measured, dim, level_name)
        if len(levels) < 2:
            continue
        rows = [row for metric in HEADLINE_METRICS if (row := _rank_metric(metric, levels)) is not None]
        fixed = {d: sorted(measured.distinct(d)) for d in ("suite", "region", "api", "tier") if d != dim}
        pooled = {d: v for d, v in fixed.items() if len(v) > 1}
        out.append({"dimension": dim, "label": label, "levels": sorted(levels), "pooled_over": pooled,
                    "metrics": rows})
        for row in rows:
            describe(row)
    return out


def _pct(v: float | None) -> str:
    return "?" if v is None else f"{(v - 1) * 100:+.0f}"


def _pts(v: float | None) -> str:
    return "?" if v is None else f"{v * 100:+.0f}"


def lines(ranked: Sequence[Mapping[str, Any]], sweep: Mapping[str, Any] | None = None) -> list[str]:
    """The headline in words, one line per dimension and metric (the terminal prints these)."""
    out = []
    for d in ranked:
        pooled = "; ".join(f"{k} {', '.join(v)}" for k, v in sorted(d["pooled_over"].items()))
        out.append(f"Which {d['label']}?" + (f" (pooled over {pooled})" if pooled else ""))
        out.extend(f"  {row['sentence']}" for row in d["metrics"])
    if sweep:
        out.append(sweep_sentence(sweep))
    return out


def sweep_sentence(sweep: Mapping[str, Any]) -> str:
    best = sweep.get("max_sustainable")
    text = (f"Sweep: maximum sustainable rate {best['requests_per_s']:.2f} requests/s (at {sweep['of']} "
            f"{best['level']:g})" if best else "Sweep: no level was sustainable")
    knee = sweep.get("knee")
    return text + (f"; knee at {sweep['of']} {knee['level']:g}: {'; '.join(knee['reasons'])}" if knee
                   else "; no knee: every level held")


def _verdict_words(o: Mapping[str, Any]) -> str:
    if o["verdict"] in (WORSE, BETTER):
        return f"{o['verdict']} beyond the {o['margin']} margin"
    if o["verdict"] == WITHIN:
        return f"within the {o['margin']} margin"
    return "too few samples to tell" if o["margin"] is None else f"inconclusive against the {o['margin']} margin"


def describe(row: dict[str, Any]) -> None:
    """Words for one ranked metric, kept beside its figures: `head` (the best level), `parts` (the others) and
    `sentence`, e.g. "p50 latency: us-east-1 fastest (364 ms [336, 390]); us-west-2 +26 % [+21, +31], significant"."""
    accuracy = row["metric"] == "accuracy"
    best, fig = row["best"]["level"], row["best"]["figure"]
    if accuracy:
        head = f"{best} most accurate ({fig['estimate'] * 100:.0f} %"
        head += f" [{fig['low'] * 100:.0f}, {fig['high'] * 100:.0f}])" if fig["available"] else ", no interval)"
    else:
        head = f"{best} {'fastest' if 'latency' in row['metric'] else 'first token soonest'} ({fig['estimate']:,.0f} ms"
        head += f" [{fig['low']:,.0f}, {fig['high']:,.0f}])" if fig["available"] else ", no interval)"
    fmt, unit = (_pts, " points") if accuracy else (_pct, " %")
    parts = []
    for o in row["others"]:
        figure = f"{fmt(o['estimate'])}{unit}"
        if o["low"] is not None and o["high"] is not None:
            figure += f" [{fmt(o['low'])}, {fmt(o['high'])}]"
        words = _verdict_words(o)
        o["text"] = (f"{o['level']} {figure}, {words}" if o["estimate"] is not None
                     else f"{o['level']} no estimate, {words} ({o['reason']})")
        parts.append(o["text"])
    row["head"] = head
    row["summary"] = _accuracy_summary(row) if accuracy else None
    row["sentence"] = f"{row['label']}: " + (row["summary"] or "; ".join([head, *parts]))


def _accuracy_summary(row: Mapping[str, Any]) -> str | None:
    """One phrase when no level's accuracy is worse or better than the margin."""
    if not all(o["verdict"] in (WITHIN, INCONCLUSIVE) for o in row["others"]):
        return None
    margin = next((o["margin"] for o in row["others"] if o["margin"]), "margin's")
    if any(o["verdict"] == INCONCLUSIVE for o in row["others"]):
        bounds = [max(abs(o["low"]), abs(o["high"])) for o in row["others"]
                  if o["low"] is not None and o["high"] is not None]
        if bounds and len(bounds) == len(row["others"]):
            return (f"too few samples to tell against the {margin} margin (differences up to "
                    f"{max(bounds) * 100:.0f} points not ruled out)")
        return f"too few samples to tell against the {margin} margin"
    return f"no level differs by more than the {margin} margin"
