"""Read run directories for the report in one streaming pass, keeping only what the statistics need.

A 200k-record run does not fit comfortably in memory as full records (response texts, inter-token gap lists),
so each record is reduced to the fields the report computes from, repeated strings are interned, and the full
records the sample viewer shows are picked on the way. The run directory checks and the cell grouping are
those of `evals.results.rundata`/`evals.results.rundir`, so the report sees the same records as compare and gate.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.errors import UserInputError
from evals.results.rundata import RunData, run_dirs_in
from evals.results.rundir import RunDirectory

from .viewer import ViewerPicker

NUMERIC = (
    "index", "repeat", "attempts", "throttles", "backoff_ms", "t_sent_ms", "t_done_ms", "send_lag_ms", "latency_ms",
    "ttft_ms", "tpot_ms", "server_latency_ms", "client_overhead_ms", "input_tokens", "output_tokens", "image_count",
    "image_bytes", "image_pixels", "score", "cost_usd", "load_level", "session",
)
LABELS = ("suite", "region", "api", "tier", "model_id", "status", "error_code", "error_class")
ERROR_MESSAGE_CAP = 500


def _label(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


def slim(rec: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """The fields statistics and plots read; ITL reduced to the per-request mean gap (how it is summarised)."""
    out: dict[str, Any] = {k: rec.get(k) for k in NUMERIC}
    out.update({k: _label(rec.get(k)) for k in LABELS})
    out["run_id"] = run_id
    out["request_id"] = rec.get("request_id")
    out["sample_id"] = rec.get("sample_id")
    out["cluster"] = rec.get("cluster")
    out["warmup"] = bool(rec.get("warmup"))
    gaps = rec.get("itl_ms")
    out["itl_mean_ms"] = sum(gaps) / len(gaps) if gaps else None
    out["itl_gaps"] = len(gaps) if gaps else 0
    if rec.get("status") != "ok":
        msg = rec.get("error_message")
        out["error_message"] = msg[:ERROR_MESSAGE_CAP] if isinstance(msg, str) else msg
    return out


def open_runs(path: Path | str) -> list[RunDirectory]:
    """The run directory at `path`, or every run directory directly inside it (a sweep folder, a multirun's
    output directory); otherwise a one-line UserInputError naming the path."""
    path = Path(path)
    if not path.is_dir():
        raise UserInputError(f"{path}: no such run directory")
    return [RunDirectory.open_existing(p) for p in run_dirs_in(path)]


def iter_full(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """Every record of every run, unchanged except for the run id (for the exports)."""
    for path in paths:
        run_dir = RunDirectory(path)
        run_id = str(run_dir.read_run().get("run_id", path.name))
        for rec in run_dir.iter_records():
            rec["run_id"] = run_id
            yield rec


def load(paths: Sequence[Path | str], picker: ViewerPicker) -> list[RunData]:
    """RunData per run directory holding slim records (warm-up included, flagged); the picker sees every
    measured record. Every directory is checked before any is read, so a bad path fails fast.
    """
    if not paths:
        raise UserInputError("no run directory given")
    unique: dict[Path, RunDirectory] = {}  # the same run named twice (or by a glob and its parent) counts once
    for p in paths:
        for run_dir in open_runs(p):
            unique.setdefault(run_dir.path.resolve(), run_dir)
    dirs = list(unique.values())
    runs = []
    for run_dir in dirs:
        info = run_dir.read_run()
        run_id = str(info.get("run_id", run_dir.path.name))
        records = []
        for rec in run_dir.iter_records():
            rec["run_id"] = run_id
            if not rec.get("warmup"):
                picker.offer(rec)
            records.append(slim(rec, run_id))
        runs.append(RunData(path=run_dir.path, info=info, records=tuple(records)))
    return runs
