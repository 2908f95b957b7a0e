"""The two arms of a comparison (baseline and candidate) and the cells they are matched on.

An arm is one or more run directories (several interleaved runs per arm are what makes latency comparisons
honest on a drifting cloud) or one value of a cell dimension inside the same runs (two regions of one run).
Everything that makes two arms incomparable is caught here, before any statistics, as one-line user errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.errors import UserInputError
from evals.results.measures import FIELDS
from evals.results.rundata import CellKey, RunData, group_by_cell, load_runs, merged_table
from evals.results.table import RecordTable

DIMENSIONS = ("region", "api", "tier")
ARM_FIELDS = (*FIELDS, "model_id", "repeat")  # what the engine reads, the models compared, the answers paired
ANY = "*"


@dataclass(frozen=True)
class Arm:
    """Measured records of one side, each tagged with the id of the run it came from."""

    label: str
    runs: tuple[RunData, ...]
    table: RecordTable

    @property
    def paths(self) -> list[str]:
        return [str(r.path) for r in self.runs]

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]


@dataclass(frozen=True)
class Matched:
    """Cells present in both arms, each with (baseline records, candidate records); the rest listed."""

    cells: dict[CellKey, tuple[RecordTable, RecordTable]]
    only_base: list[CellKey] = field(default_factory=list)
    only_cand: list[CellKey] = field(default_factory=list)


def model_of(run: RunData) -> str:
    """The model a run measured: the card's model id from run.json, else the ids its records sent."""
    model = run.info.get("model")
    if isinstance(model, dict) and model.get("model_id"):
        return str(model["model_id"])
    ids = sorted(run.table.distinct("model_id"))
    return ", ".join(ids) if ids else "unknown"


def load_arm(paths: Sequence[str | Path], label: str) -> Arm:
    """Load an arm's run directories; its runs must measure the same model and hold measured records."""
    runs = load_runs(paths, ARM_FIELDS)
    seen: dict[str, Path] = {}
    for run in runs:
        if run.run_id in {r.run_id for r in runs if r is not run}:
            raise UserInputError(f"{run.path}: run {run.run_id} is given twice")
        seen.setdefault(model_of(run), run.path)
        if not len(run.measured()):
            raise UserInputError(f"{run.path}: no measured records in {run.path / 'records.jsonl'}")
    if len(seen) > 1:
        (m1, p1), (m2, p2) = list(seen.items())[:2]
        raise UserInputError(f"{p2}: {label} runs measure different models ({m2} here, {m1} in {p1})")
    return Arm(label, tuple(runs), merged_table(runs))


def arm_cells(arm: Arm) -> set[CellKey]:
    return set(group_by_cell(arm.table))


def match_runs(base: Arm, cand: Arm) -> Matched:
    """Match cells of two arms by (suite, region, api, tier)."""
    bx, cx = group_by_cell(base.table), group_by_cell(cand.table)
    cells = {k: (bx[k], cx[k]) for k in bx if k in cx}
    return Matched(cells, sorted(set(bx) - set(cx)), sorted(set(cx) - set(bx)))


def match_within(runs: Arm, by: str, base_value: str, cand_value: str) -> Matched:
    """Two values of one dimension inside the same runs: cells matched on the other dimensions."""
    if by not in DIMENSIONS:
        raise UserInputError(f"--by: must be one of {', '.join(DIMENSIONS)}, got {by!r}")
    if base_value == cand_value:
        raise UserInputError(f"--base and --cand: both are {base_value!r}; compare two different {by} values")
    present = sorted(runs.table.distinct(by))
    for flag, value in (("--base", base_value), ("--cand", cand_value)):
        if value not in present:
            raise UserInputError(f"{flag}: no records with {by}={value!r} in {', '.join(runs.paths)} "
                                 f"(present: {', '.join(present)})")
    sides: list[dict[CellKey, RecordTable]] = []
    for value in (base_value, cand_value):
        grouped = group_by_cell(runs.table.where(by, value))
        merged: dict[CellKey, list[RecordTable]] = {}
        for key, part in grouped.items():
            merged.setdefault(key._replace(**{by: ANY}), []).append(part)
        sides.append({key: RecordTable.concat(parts) for key, parts in merged.items()})
    bx, cx = sides
    cells = {k: (bx[k], cx[k]) for k in sorted(bx) if k in cx}
    return Matched(cells, sorted(set(bx) - set(cx)), sorted(set(cx) - set(bx)))


def _cells_text(keys: Sequence[CellKey]) -> str:
    shown = "; ".join(k.label() for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def check_comparable(base: Arm, cand: Arm, matched: Matched, strict: bool, allow_model_change: bool = False
                     ) -> list[str]:
    """Raise on arms that cannot be compared; return warnings about differences worth reading.

    `strict` (the gate): every cell must be in both arms and the model must be the same unless
    `allow_model_change`. Otherwise (compare) only common cells are compared and the rest is a warning.
    """
    warnings: list[str] = []
    where = cand.paths[0]
    mb, mc = model_of(base.runs[0]), model_of(cand.runs[0])
    if mb != mc:
        if strict and not allow_model_change:
            raise UserInputError(f"{where}: candidate measures model {mc}, baseline {base.paths[0]} measures {mb} "
                                 "(pass --allow-model-change to gate a model change)")
        warnings.append(f"models differ: baseline {mb}, candidate {mc}")
    if strict and (matched.only_base or matched.only_cand):
        parts = []
        if matched.only_base:
            parts.append(f"only in baseline: {_cells_text(matched.only_base)}")
        if matched.only_cand:
            parts.append(f"only in candidate: {_cells_text(matched.only_cand)}")
        raise UserInputError(f"{where}: cells differ from baseline {base.paths[0]} ({'; '.join(parts)})")
    if not matched.cells:
        raise UserInputError(f"{where}: no cell (suite / region / api / tier) in common with baseline "
                             f"{base.paths[0]}")
    if matched.only_base:
        warnings.append(f"cells only in baseline, not compared: {_cells_text(matched.only_base)}")
    if matched.only_cand:
        warnings.append(f"cells only in candidate, not compared: {_cells_text(matched.only_cand)}")
    versions = {}
    for arm in (base, cand):
        versions[arm.label] = {(s.get("name"), s.get("version")) for run in arm.runs
                               for s in run.info.get("suites", []) if isinstance(s, dict)}
    if versions.get(base.label) and versions.get(cand.label) and versions[base.label] != versions[cand.label]:
        warnings.append("suite versions differ between the arms (a prompt or data change is being compared)")
    emulated = {run.is_emulated for arm in (base, cand) for run in arm.runs}
    if len(emulated) > 1:
        warnings.append("one arm ran on the emulator and the other on Amazon Bedrock: latencies are not comparable")
    for arm in (base, cand):
        for run in arm.runs:
            status = run.info.get("status")
            if status not in (None, "completed"):
                warnings.append(f"{arm.label} run {run.run_id} has status {status!r}")
    return warnings
