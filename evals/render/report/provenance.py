"""What was measured and where the numbers came from, read from each run's run.json.

One entry per run directory (a merged report lists every job of a multirun), plus the facts a reader needs
first: whether the emulator served the requests, and any run that did not complete or was client-bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from evals.results.outcome import DEFAULT_MAX_ERROR_RATE, assess
from evals.results.rundata import RunData
from evals.stats.dependent import MIN_RUNS

from .figures import clean


def _duration_s(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def run_facts(run: RunData) -> dict[str, Any]:
    info = run.info
    target = info.get("target") or {}
    config = info.get("config") or {}
    cells = info.get("cells") or {}
    prov = info.get("provenance") or {}
    load = config.get("load") if isinstance(config.get("load"), Mapping) else {}
    return {
        "run_id": run.run_id,
        "path": str(run.path),
        "status": info.get("status", "unknown"),
        "stop_detail": info.get("stop_detail"),
        "emulator": bool(target.get("emulator")),
        "target": {
            "kind": target.get("kind", "unknown"),
            "engine": target.get("engine"),
            "latency_profile": target.get("latency_profile"),
            "latency_scale": target.get("latency_scale"),
            "note": target.get("note"),
            "auth": target.get("auth"),
        },
        "model": {
            "card": _get(info, "model", "card"),
            "model_id": _get(info, "model", "model_id"),
            "ids_sent": _get(info, "model", "ids_sent") or {},
        },
        "regions": list(cells.get("regions") or []),
        "apis": list(cells.get("apis") or []),
        "tiers": list(cells.get("tiers") or []),
        "suites": [
            {"name": s.get("name"), "version": s.get("version"), "source": s.get("source"),
             "samples": s.get("samples")}
            for s in info.get("suites") or [] if isinstance(s, Mapping)
        ],
        "load": dict(load or {}),
        "repeats": _get(config, "run", "repeats"),
        "seed": _get(config, "run", "seed"),
        "versions": {k: prov.get(k) for k in ("harness", "python", "boto3", "botocore")},
        "git_sha": prov.get("git_sha"),
        "host": _get(prov, "host", "hostname"),
        "argv": prov.get("argv") or [],
        "started_at": info.get("started_at"),
        "finished_at": info.get("finished_at"),
        "duration_s": clean(_duration_s(info.get("started_at"), info.get("finished_at"))),
        "planned": info.get("planned"),
        "counts": info.get("counts") or {},
        "tokens_used": _get(info, "budget", "tokens_used"),
        "cost_usd": _get(info, "budget", "cost_usd"),
        "client_bound": bool(_get(info, "flags", "client_bound")),
        "send_lag_p99_ms": _get(info, "flags", "send_lag_p99_ms"),
        "resumes": len(info.get("resumes") or []),
        "records": len(run.table),
        "quota_waits": info.get("quota_waits") if isinstance(info.get("quota_waits"), dict) else None,
        "outcome": assess(run.table, _max_error_rate(config)).to_json(),
    }


def _max_error_rate(config: Mapping[str, Any]) -> float:
    value = _get(config, "run", "max_error_rate")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else DEFAULT_MAX_ERROR_RATE


def headline(facts: Sequence[Mapping[str, Any]], runs_per_cell: Sequence[int] = ()) -> dict[str, Any]:
    """The warnings shown above everything else.

    `within_run_cells`: on a cloud target, how many cells have fewer than MIN_RUNS runs, so that their intervals
    are within-run and cannot see drift between runs or slower than a run (0 when every run is emulated)."""
    emulated = [f for f in facts if f["emulator"]]
    cloud = len(emulated) < len(facts)
    return {
        "within_run_cells": sum(n < MIN_RUNS for n in runs_per_cell) if cloud else 0,
        "cells": len(runs_per_cell),
        "runs": len(facts),
        "emulated_runs": len(emulated),
        "all_emulated": bool(facts) and len(emulated) == len(facts),
        "emulator_notes": sorted({str(f["target"]["note"]) for f in emulated if f["target"]["note"]}),
        "engines": sorted({str(f["target"]["engine"]) for f in emulated}),
        "latency_profiles": sorted({str(f["target"]["latency_profile"]) for f in emulated}),
        "not_completed": [{"run_id": f["run_id"], "status": f["status"], "detail": f["stop_detail"]}
                          for f in facts if f["status"] != "completed"],
        "client_bound": [{"run_id": f["run_id"], "send_lag_p99_ms": f["send_lag_p99_ms"]}
                         for f in facts if f["client_bound"]],
        "resumed": [{"run_id": f["run_id"], "resumes": f["resumes"]} for f in facts if f["resumes"]],
        "failed": [{"run_id": f["run_id"], **f["outcome"]} for f in facts if f["outcome"]["verdict"] != "ok"],
    }
