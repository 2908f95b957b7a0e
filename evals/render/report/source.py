"""Read run directories for the report: the statistics fields as columns, whole records only when streamed.

A million records do not fit in memory as dicts, so the report reads the columns of `evals.results.rundata`
(the reader compare and gate use, so the report sees the same records), reads back the few whole records a
page shows by their line (`full_records`), and streams every whole record only for the exports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from evals.errors import UserInputError
from evals.results.rundata import RunData, load_runs, run_dirs_in
from evals.results.rundir import RunDirectory
from evals.results.table import RecordTable


def open_runs(path: Path | str) -> list[RunDirectory]:
    """The run directory at `path`, or every run directory directly inside it (a sweep folder, a multirun's
    output directory); otherwise a one-line UserInputError naming the path."""
    path = Path(path)
    if not path.is_dir():
        raise UserInputError(f"{path}: no such run directory")
    return [RunDirectory.open_existing(p) for p in run_dirs_in(path)]


def run_id_of(path: Path) -> str:
    """The run id the exports give a run's records: run.json's, else the directory's name."""
    return str(RunDirectory(path).read_run().get("run_id", path.name))


def iter_full(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """Every record of every run, unchanged except for the run id (for the exports)."""
    for path in paths:
        run_dir = RunDirectory(path)
        run_id = run_id_of(path)
        for rec in run_dir.iter_records():
            rec["run_id"] = run_id
            yield rec


def _check_run_ids(dirs: Sequence[Path]) -> None:
    """Records are told apart by their run id: two directories holding the same run (a copy) would be counted
    twice, and their records mixed, so they are refused with both paths named."""
    seen: dict[str, Path] = {}
    for path in dirs:
        run_id = str(RunDirectory(path).read_run().get("run_id", path.name))
        if run_id in seen:
            raise UserInputError(f"{seen[run_id]} and {path}: both hold run {run_id!r} (a copied run?); "
                                 "report them separately")
        seen[run_id] = path


def load(paths: Sequence[Path | str]) -> list[RunData]:
    """RunData per run directory, records as columns (warm-up included, flagged). Every directory is checked
    before any is read, so a bad path fails fast; the same run named twice (or by a glob and its parent)
    counts once."""
    if not paths:
        raise UserInputError("no run directory given")
    unique: dict[Path, Path] = {}
    for p in paths:
        for run_dir in open_runs(p):
            unique.setdefault(run_dir.path.resolve(), run_dir.path)
    _check_run_ids(list(unique.values()))
    runs = load_runs(unique.values())
    pa.default_memory_pool().release_unused()  # the reader's parse buffers: hundreds of MiB at a million records
    return runs


def one_table(runs: Sequence[RunData]) -> tuple[list[RunData], RecordTable]:
    """Every record of every run as one table (warm-up included, run by run), and the runs re-pointed at their
    rows of it, so a merged report holds each column once (the caller drops the runs it passed in)."""
    if len(runs) == 1:
        return list(runs), runs[0].table
    full = RecordTable.concat([run.table for run in runs])
    bounds = np.cumsum([0, *(len(run.table) for run in runs)]).tolist()
    return [replace(run, table=full.take(np.arange(lo, hi)))
            for run, lo, hi in zip(runs, bounds[:-1], bounds[1:], strict=True)], full
