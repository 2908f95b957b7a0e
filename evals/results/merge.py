"""Whether runs may be merged into one report: the same model, suites and target, or an explicit choice.

`report reports/` on a folder of unrelated runs would pool a Llama run with a Claude run, or the emulator with
Amazon Bedrock, into one set of cells without a word. A sweep's jobs or interleaved repeats of one setup share
all three, so they merge silently; anything else needs `--allow-mixed` and is then named in a warning.
"""

from __future__ import annotations

from collections.abc import Sequence

from evals.errors import UserInputError
from evals.results.arms import model_of
from evals.results.rundata import RunData


def _suites(run: RunData) -> str:
    listed = run.info.get("suites")
    names = sorted({str(s.get("name")) for s in listed if isinstance(s, dict)}) if isinstance(listed, list) else []
    if not names:
        names = sorted(run.table.distinct("suite"))
    return ", ".join(names) or "unknown"


def _target(run: RunData) -> str:
    target = run.info.get("target")
    if not isinstance(target, dict):
        return "unknown"
    return "the emulator" if target.get("emulator") else str(target.get("kind") or "unknown")


ASPECTS = (("model", model_of), ("suites", _suites), ("target", _target))


def differences(runs: Sequence[RunData]) -> list[str]:
    """One phrase per aspect in which the runs differ, naming two runs that differ."""
    out = []
    for aspect, of in ASPECTS:
        seen: dict[str, RunData] = {}
        for run in runs:
            seen.setdefault(of(run), run)
        if len(seen) > 1:
            (v1, r1), (v2, r2) = list(seen.items())[:2]
            more = f" and {len(seen) - 2} more" if len(seen) > 2 else ""
            out.append(f"{aspect}: {v1} ({r1.run_id}) vs {v2} ({r2.run_id}){more}")
    return out


def check_mergeable(runs: Sequence[RunData], allow_mixed: bool) -> list[str]:
    """Warnings for runs that differ when `allow_mixed`; otherwise a one-line UserInputError naming the first
    difference and the flag that allows it."""
    found = differences(runs)
    if found and not allow_mixed:
        raise UserInputError(f"{runs[0].path}: the {len(runs)} runs differ in {found[0]}"
                             f"{' (and more)' if len(found) > 1 else ''}; pass --allow-mixed to merge them anyway")
    return [f"merged runs differ in {d}" for d in found]
