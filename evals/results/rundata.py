"""Read finished run directories for report, compare and gate: run info, records and cells.

The one reader of run directories after a run, so every consumer sees the same records (warm-up excluded
from measurements, errors kept) grouped by the same cell keys.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from evals.errors import UserInputError
from evals.results.rundir import RUN_FILE, RunDirectory

R = TypeVar("R", bound=Mapping[str, Any])


class CellKey(NamedTuple):
    suite: str
    region: str
    api: str
    tier: str

    def label(self) -> str:
        return f"{self.suite} / {self.region} / {self.api} / {self.tier}"


@dataclass(frozen=True)
class RunData:
    path: Path
    info: dict[str, Any]
    records: tuple[dict[str, Any], ...]

    @property
    def run_id(self) -> str:
        return str(self.info.get("run_id", self.path.name))

    @property
    def is_emulated(self) -> bool:
        return bool(self.info.get("target", {}).get("emulator"))

    def measured(self) -> list[dict[str, Any]]:
        """Records that count in statistics: everything but warm-up requests."""
        return [r for r in self.records if not r.get("warmup")]


def load_run(path: Path | str) -> RunData:
    path = Path(path)
    if not path.is_dir():
        raise UserInputError(f"{path}: no such run directory")
    run_dir = RunDirectory.open_existing(path)
    info = run_dir.read_run()
    run_id = str(info.get("run_id", path.name))
    records = tuple(_compact(rec, run_id) for rec in run_dir.iter_records())
    return RunData(path=path, info=info, records=records)


# One string object per field name and per repeated label across all records of all runs: `json.loads` makes
# fresh ones for every line, which at a million records is most of the memory the records take.
_KEYS: dict[str, str] = {}
LABELS = frozenset({"suite", "suite_version", "region", "api", "tier", "model_id", "status", "error_code",
                    "error_class", "stop_reason", "run_id"})


def _compact(record: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The record with shared key and label strings, tagged with its run's id."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        key = _KEYS.setdefault(key, key)
        out[key] = sys.intern(value) if key in LABELS and isinstance(value, str) else value
    out["run_id"] = sys.intern(run_id)
    return out


def run_dirs_in(path: Path | str) -> list[Path]:
    """A run directory, or the run directories directly inside a folder of them (a sweep: one arm)."""
    path = Path(path)
    if path.is_dir() and not (path / RUN_FILE).exists():
        children = sorted(p for p in path.iterdir() if p.is_dir() and (p / RUN_FILE).is_file())
        if children:
            return children
    return [path]


def load_runs(paths: Iterable[Path | str]) -> list[RunData]:
    runs = [load_run(d) for p in paths for d in run_dirs_in(p)]
    if not runs:
        raise UserInputError("no run directory given")
    return runs


def cell_key(record: Mapping[str, Any]) -> CellKey:
    return CellKey(record["suite"], record["region"], record["api"], record["tier"])


def group_by_cell(records: Iterable[R]) -> dict[CellKey, list[R]]:
    cells: dict[CellKey, list[R]] = defaultdict(list)
    for rec in records:
        if not rec.get("warmup"):
            cells[cell_key(rec)].append(rec)
    return dict(sorted(cells.items()))


def merged_records(runs: Sequence[RunData]) -> list[dict[str, Any]]:
    """Measured records of several runs (e.g. the jobs of a multirun), each tagged with its run id on load."""
    return [rec for run in runs for rec in run.measured()]
