"""Read finished run directories for report, compare and gate: run info, records and cells.

The one reader of run directories after a run, so every consumer sees the same records (warm-up excluded
from measurements, errors kept) grouped by the same cell keys.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from evals.errors import UserInputError
from evals.results.reader import read_table
from evals.results.rundir import RUN_FILE, RunDirectory
from evals.results.schema import RunFile
from evals.results.table import ALL_FIELDS, CELL_FIELDS, RecordTable


class CellKey(NamedTuple):
    suite: str
    region: str
    api: str
    tier: str

    def label(self) -> str:
        return f"{self.suite} / {self.region} / {self.api} / {self.tier}"


@dataclass(frozen=True)
class RunData:
    """One run directory: its run.json and its records as columns (warm-up included, flagged)."""

    path: Path
    info: RunFile
    table: RecordTable

    @property
    def run_id(self) -> str:
        return str(self.info.get("run_id", self.path.name))

    @property
    def is_emulated(self) -> bool:
        return bool(self.info.get("target", {}).get("emulator"))

    def measured(self) -> RecordTable:
        """Records that count in statistics: everything but warm-up requests."""
        return self.table.measured()

    def full_records(self, lines: Sequence[int]) -> list[dict[str, Any]]:
        """The whole records at these 1-based lines of records.jsonl (texts included), tagged with the run id;
        for the few records a page shows."""
        records = RunDirectory(self.path).read_lines(lines)
        for rec in records:
            rec["run_id"] = self.run_id
        return records


def load_run(path: Path | str, fields: Collection[str] = ALL_FIELDS) -> RunData:
    """A run directory's run.json and the `fields` of its records (all of them by default)."""
    path = Path(path)
    if not path.is_dir():
        raise UserInputError(f"{path}: no such run directory")
    run_dir = RunDirectory.open_existing(path)
    info = run_dir.read_run()
    run_id = str(info.get("run_id", path.name))
    return RunData(path=path, info=info, table=read_table(run_dir.records_file, run_id, fields))


def run_dirs_in(path: Path | str) -> list[Path]:
    """A run directory, or the run directories directly inside a folder of them (a sweep: one arm)."""
    path = Path(path)
    if path.is_dir() and not (path / RUN_FILE).exists():
        children = sorted(p for p in path.iterdir() if p.is_dir() and (p / RUN_FILE).is_file())
        if children:
            return children
    return [path]


def load_runs(paths: Iterable[Path | str], fields: Collection[str] = ALL_FIELDS) -> list[RunData]:
    runs = [load_run(d, fields) for p in paths for d in run_dirs_in(p)]
    if not runs:
        raise UserInputError("no run directory given")
    return runs


def cell_key(record: Mapping[str, Any]) -> CellKey:
    """The cell of one record as a dict (a run's live records, before they are read back as columns)."""
    return CellKey(str(record["suite"]), str(record["region"]), str(record["api"]), str(record["tier"]))


def group_by_cell(table: RecordTable) -> dict[CellKey, RecordTable]:
    """Measured records by cell (suite, region, api, tier), in key order."""
    measured = table.measured()
    return {CellKey(*map(str, key)): measured.take(rows) for key, rows in measured.groups(CELL_FIELDS)}


def merged_table(runs: Sequence[RunData]) -> RecordTable:
    """Measured records of several runs (e.g. the jobs of a multirun), each tagged with its run id on load."""
    return RecordTable.concat([run.measured() for run in runs])


def full_records(runs: Sequence[RunData], picks: Sequence[tuple[RecordTable, int]]) -> list[dict[str, Any]]:
    """The whole records (texts included) of these (table, row) picks, read from `runs` in one pass per run,
    in the order of `picks`."""
    by_run = {run.run_id: run for run in runs}
    keys = [(str(table.label("run_id").at(row)), int(table.line[row])) for table, row in picks]
    wanted: dict[str, set[int]] = {}
    for run_id, line in keys:
        wanted.setdefault(run_id, set()).add(line)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for run_id, lines in wanted.items():
        ordered = sorted(lines)
        for line, rec in zip(ordered, by_run[run_id].full_records(ordered), strict=True):
            found[(run_id, line)] = rec
    return [found[key] for key in keys]
