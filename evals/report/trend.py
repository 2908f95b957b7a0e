"""Headline metrics across earlier runs, read from the history index beside the run (when one exists)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from evals.history import default_db, trend
from evals.rundata import RunData

TREND_METRICS = ("accuracy", "latency_p50", "error_rate")
TREND_RUNS = 10


def history_trend(runs: Sequence[RunData], last: int = TREND_RUNS) -> dict[str, Any] | None:
    """Per cell and headline metric, the values of the newest `last` indexed runs of the same model.

    None when there is no history index or it holds no other run: a trend of one point says nothing.
    """
    db = default_db(runs[0].path)
    if not db.is_file():
        return None
    model = (runs[0].info.get("model") or {}).get("model_id")
    current = {run.run_id for run in runs}
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = defaultdict(dict)
    run_order: dict[str, str] = {}
    for metric in TREND_METRICS:
        for point in trend(metric, db, model_id=model, last=last):
            run_order[point.run_id] = point.started_at or ""
            rows[(point.suite, point.region, point.api, point.tier)].setdefault(metric, {})[point.run_id] = point.value
    if len(run_order) < 2:
        return None
    order = sorted(run_order, key=lambda rid: (run_order[rid], rid))
    return {
        "db": str(db),
        "runs": [{"run_id": rid, "started_at": run_order[rid], "current": rid in current} for rid in order],
        "cells": [
            {"cell": " / ".join(key), "metric": metric, "values": [values.get(rid) for rid in order]}
            for key, by_metric in sorted(rows.items())
            for metric, values in sorted(by_metric.items(), key=lambda kv: TREND_METRICS.index(kv[0]))
        ],
    }
