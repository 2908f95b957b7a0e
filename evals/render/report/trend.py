"""Headline metrics of earlier runs of the same cells, read from the history index beside the run.

Only comparable runs count: the same model and the same kind of target (emulator or AWS), and only the cells
(suite x region x API x tier) this report holds. A row is shown only when at least two runs have a value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from evals.results.history import default_db, list_runs, trend
from evals.results.rundata import RunData
from evals.results.table import CELL_FIELDS, RecordTable

TREND_METRICS = ("accuracy", "latency_p50", "error_rate")
TREND_RUNS = 10


def _target_kind(run: RunData) -> str | None:
    target = run.info.get("target")
    return str(target.get("kind")) if isinstance(target, dict) and target.get("kind") else None


def history_trend(runs: Sequence[RunData], measured: RecordTable, last: int = TREND_RUNS) -> dict[str, Any] | None:
    """Per cell of this report and headline metric, the values of the newest `last` comparable runs.

    None when there is no history index or no cell has two runs with a value: a trend of one point says nothing.
    """
    db = default_db(runs[0].path)
    if not db.is_file():
        return None
    model = (runs[0].info.get("model") or {}).get("model_id")
    target = _target_kind(runs[0])
    current = {run.run_id for run in runs}
    comparable = {str(r["run_id"]) for r in list_runs(db)
                  if r["model_id"] == model and (target is None or r["target"] == target)} | current
    cells = {tuple(map(str, key)) for key, _ in measured.groups(CELL_FIELDS)}
    values: dict[tuple[tuple[str, ...], str], dict[str, Any]] = defaultdict(dict)
    key: tuple[str, ...]
    started: dict[str, str] = {}
    for metric in TREND_METRICS:
        for p in trend(metric, db, model_id=model):
            key = (p.suite, p.region, p.api, p.tier)
            if p.run_id in comparable and key in cells and p.value is not None:
                values[(key, metric)][p.run_id] = p.value
                started[p.run_id] = p.started_at or ""
    rows = []
    for (key, metric), by_run in sorted(values.items(), key=lambda kv: (kv[0][0], TREND_METRICS.index(kv[0][1]))):
        order = sorted(by_run, key=lambda rid: (started[rid], rid))[-last:]
        if len(order) < 2:
            continue
        rows.append({
            "cell": " / ".join(key),
            "metric": metric,
            "points": [{"run_id": rid, "started_at": started[rid], "value": by_run[rid], "current": rid in current}
                       for rid in order],
        })
    if not rows:
        return None
    return {"db": str(db), "model_id": model, "target": target, "last": last, "cells": rows}
