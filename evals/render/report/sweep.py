"""A load sweep as a curve: per level, total achieved throughput, latency, errors and throttles; then the knee
and the maximum sustainable rate, each stated with its rule.

A level is a sweep level of one run (`load_level` in the records), or, when several runs each ran one closed
or open-loop load (a Hydra multirun over `load.concurrency` or `load.rate`), each run's configured load. All
cells of a level ran at the same time, so the level's throughput is their total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evals.results import summaries
from evals.results.metrics import METRICS
from evals.results.rundata import RunData
from evals.results.table import RecordTable
from evals.results.throughput import sessions, throughput

from .cells import STREAMING_APIS, by_level, percentiles, throughput_json
from .figures import interval_dict

KNEE_LATENCY_FACTOR = 1.5  # p90 latency above 1.5x its value at the lowest level
KNEE_FAILURE_SHARE = 0.01  # more than 1 % of requests failed or were throttled at least once
KNEE_RATE_SHORTFALL = 0.9  # rate sweeps: achieved requests/s below 90 % of the offered rate
RULE = (f"The knee is the first level at which p90 latency exceeds {KNEE_LATENCY_FACTOR:g}× its value at the "
        f"lowest level, or more than {KNEE_FAILURE_SHARE:.0%} of requests failed or were throttled at least once, "
        f"or (rate sweeps) the achieved rate fell below {KNEE_RATE_SHORTFALL:.0%} of the offered rate. "
        "The maximum sustainable rate is the highest total requests/s achieved at a level below the knee. "
        "Both are read from point estimates; the intervals beside them say how firm each level's figures are.")


def _run_level(info: Mapping[str, Any]) -> tuple[str, float] | None:
    load = (info.get("config") or {}).get("load") or {}
    strategy = load.get("strategy")
    if strategy == "closed" and load.get("concurrency"):
        return "concurrency", float(load["concurrency"])
    if strategy in ("constant", "poisson") and load.get("rate"):
        return "rate", float(load["rate"])
    return None


def levels_of(runs: Sequence[RunData], measured: RecordTable) -> tuple[str, list[tuple[float, RecordTable]]] | None:
    """(what the level is, measured records per level in level order), or None when the report holds no sweep.

    `measured` is the runs' measured records, run by run (`merged_table`)."""
    levels = measured.num("load_level")
    run_ids = measured.label("run_id")
    kinds = set()
    for run in runs:
        load = (run.info.get("config") or {}).get("load") or {}
        if (run_ids.eq(run.run_id) & ~np.isnan(levels)).any():
            kinds.add("rate" if load.get("sweep_of") == "rate" else "concurrency")
    found = by_level(measured)
    if not found:
        per_run = {run.run_id: _run_level(run.info) for run in runs}
        if len(runs) < 2 or None in per_run.values() or len({lv for lv in per_run.values()}) < 2:
            return None
        parts: dict[float, list[RecordTable]] = {}
        for run in runs:
            kind, level = per_run[run.run_id]  # type: ignore[misc]
            kinds.add(kind)
            parts.setdefault(level, []).append(measured.where("run_id", run.run_id))
        found = [(level, RecordTable.concat(tables)) for level, tables in sorted(parts.items())]
    if len(kinds) != 1 or len(found) < 2:
        return None
    return kinds.pop(), found


def level_row(level: float, table: RecordTable) -> dict[str, Any]:
    """Totals of one level over every cell that ran in it."""
    n = len(table)
    n_ok = int(table.ok.sum())
    throttles = np.nan_to_num(table.num("throttles")) != 0
    streamed = table.take(table.ok & table.label("api").isin(STREAMING_APIS))
    cells = {key for key, _ in table.groups(("suite", "region", "api", "tier"))}
    return {
        "level": level,
        "requests": n,
        "errors": n - n_ok,
        "throttled": int(throttles.sum()),
        "cells": len(cells),
        "error_rate": interval_dict(summaries.rate(METRICS["error_rate"], table)),
        "throttle_rate": interval_dict(summaries.rate(METRICS["throttle_rate"], table)),
        "failure_share": int((~table.ok | throttles).sum()) / n if n else None,
        "latency_ms": percentiles(summaries.distributions(table, ("latency_ms",))["latency_ms"]),
        "ttft_ms": (percentiles(summaries.distributions(streamed, ("ttft_ms",))["ttft_ms"])
                    if len(streamed) else None),
        "throughput": throughput_json(throughput(table, sessions(table))),
    }


def _rate(row: Mapping[str, Any]) -> float | None:
    tp = row["throughput"]
    return tp["requests_per_s"]["estimate"] if tp.get("available") else None


def _p90(row: Mapping[str, Any]) -> float | None:
    return row["latency_ms"]["p90"]["estimate"] if row["latency_ms"] else None


def knee_of(kind: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The first level that breaks the rule (see RULE) and why, or None when every level holds."""
    base = _p90(rows[0])
    for row in rows:
        reasons = []
        p90 = _p90(row)
        if base and p90 is not None and p90 > KNEE_LATENCY_FACTOR * base:
            reasons.append(f"p90 latency {p90:,.0f} ms is {p90 / base:.1f}× the lowest level's {base:,.0f} ms")
        if row["failure_share"] is not None and row["failure_share"] > KNEE_FAILURE_SHARE:
            reasons.append(f"{row['failure_share']:.1%} of requests failed or were throttled")
        rate = _rate(row)
        if kind == "rate" and rate is not None and rate < KNEE_RATE_SHORTFALL * row["level"]:
            reasons.append(f"achieved {rate:.2f} requests/s of {row['level']:g} offered")
        if reasons:
            return {"level": row["level"], "reasons": reasons}
    return None


def sweep_curve(runs: Sequence[RunData], measured: RecordTable) -> dict[str, Any] | None:
    """The sweep's rows, knee and maximum sustainable rate; None when the report holds no sweep."""
    found = levels_of(runs, measured)
    if found is None:
        return None
    kind, levels = found
    rows = [level_row(level, table) for level, table in levels]
    knee = knee_of(kind, rows)
    below = [r for r in rows if knee is None or r["level"] < knee["level"]]
    rated = [(rate, r["level"]) for r in below if (rate := _rate(r)) is not None]
    best = max(rated) if rated else None
    return {
        "of": kind,
        "rows": rows,
        "knee": knee,
        "max_sustainable": {"requests_per_s": best[0], "level": best[1]} if best else None,
        "rule": RULE,
        "short_levels": [r["level"] for r in rows
                         if not (r["throughput"].get("requests_per_s") or {}).get("available")],
    }
