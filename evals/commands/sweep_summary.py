"""A sweep folder: its plan (`sweep.json`), its jobs' run directories inside it, and its closing summary.

The driver writes the plan before any job starts; each job reads its own entry (run directory name, quota
share) from it, which also proves the job sees the driver's `run.out_dir` (a Ray node without the shared
storage fails loudly instead of writing somewhere nobody will look). After the launcher returns, or fails,
the driver reads what is on disk, not what the launcher reported: a job killed on another node still has
its run directory, its status and its records there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.errors import UserInputError
from evals.redact import redact_argv
from evals.results.rundir import RECORDS_FILE, RUN_FILE, utc_now, write_json_atomic

SWEEP_FILE = "sweep.json"
EXIT_BY_STATUS = {"completed": 0, "budget-stopped": 0, "interrupted": 130, "failed": 1}


@dataclass(frozen=True)
class JobPlan:
    num: int
    overrides: tuple[str, ...]  # the job's own overrides (those that vary across the sweep and the rest)
    run_dir: str  # name of its run directory inside the sweep folder
    quota: Mapping[str, Any]  # a QuotaShare as a dict


@dataclass(frozen=True)
class SweepPlan:
    sweep_id: str
    launcher: str
    quota_mode: str
    jobs: tuple[JobPlan, ...]

    def job(self, num: int) -> JobPlan:
        if not 0 <= num < len(self.jobs):
            raise UserInputError(f"sweep {self.sweep_id}: no job {num} in its plan")
        return self.jobs[num]


def write_plan(sweep_dir: Path, launcher: str, quota_mode: str, jobs: Sequence[JobPlan],
               argv: Sequence[str]) -> SweepPlan:
    plan = SweepPlan(sweep_dir.name, launcher, quota_mode, tuple(jobs))
    write_json_atomic(sweep_dir / SWEEP_FILE, {
        "sweep_id": plan.sweep_id, "created_at": utc_now(), "argv": redact_argv(list(argv)),
        "launcher": launcher, "quota_share": quota_mode,
        "jobs": [{"num": j.num, "overrides": redact_argv(list(j.overrides)), "run_dir": j.run_dir,
                  "quota": dict(j.quota)} for j in jobs],
    })
    return plan


def read_plan(sweep_dir: Path) -> SweepPlan:
    """The plan as a job sees it; missing means this node does not see the driver's out_dir."""
    path = sweep_dir / SWEEP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"run.out_dir: {path} is not visible here; every Ray node must mount the driver's "
                             "run.out_dir at the same path (shared storage)") from None
    except (OSError, ValueError) as err:
        raise UserInputError(f"{path}: unreadable sweep plan: {err}") from None
    jobs = tuple(JobPlan(int(j["num"]), tuple(j["overrides"]), str(j["run_dir"]), dict(j.get("quota") or {}))
                 for j in data["jobs"])
    return SweepPlan(str(data["sweep_id"]), str(data["launcher"]), str(data["quota_share"]), jobs)


@dataclass(frozen=True)
class JobOutcome:
    num: int
    run_dir: Path
    status: str  # a run.json status, or "missing" when the job never wrote one
    records: int
    errors: int
    throttled: int
    resumes: int

    @property
    def exit_code(self) -> int:
        return EXIT_BY_STATUS.get(self.status, 1)


def _count_lines(path: Path) -> tuple[int, int, int]:
    records = errors = throttled = 0
    if not path.is_file():
        return 0, 0, 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            rec = json.loads(line)
            records += 1
            errors += rec.get("status") == "error"
            throttled += bool(rec.get("throttles"))
    return records, errors, throttled


def job_outcome(sweep_dir: Path, job: JobPlan) -> JobOutcome:
    path = sweep_dir / job.run_dir
    try:
        info = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    counts = info.get("counts") or {}
    if counts and info.get("status") != "running":
        records, errors, throttled = counts.get("records", 0), counts.get("errors", 0), counts.get("throttled", 0)
    else:
        records, errors, throttled = _count_lines(path / RECORDS_FILE)
    # a run.json still saying "running" after the launcher returned: the job's process died mid-run
    status = str(info.get("status", "missing"))
    return JobOutcome(job.num, path, "died" if status == "running" else status, int(records), int(errors),
                      int(throttled), len(info.get("resumes") or []))


def finish(sweep_dir: Path, plan: SweepPlan, launcher_error: str | None) -> list[JobOutcome]:
    """Record every job's outcome in sweep.json; returns them in job order."""
    outcomes = [job_outcome(sweep_dir, job) for job in plan.jobs]
    path = sweep_dir / SWEEP_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update({
        "finished_at": utc_now(),
        "launcher_error": launcher_error,
        "outcomes": [{"num": o.num, "run_dir": o.run_dir.name, "status": o.status, "records": o.records,
                      "errors": o.errors, "throttled": o.throttled, "resumes": o.resumes} for o in outcomes],
    })
    write_json_atomic(path, data)
    return outcomes


def index_history(out_dir: Path, outcomes: Sequence[JobOutcome]) -> None:
    """Index every job in `<out_dir>/history.sqlite` from the driver (one writer, not one per job)."""
    from evals.results.history import DB_NAME, index_run

    for o in outcomes:
        if (o.run_dir / RUN_FILE).is_file():
            index_run(o.run_dir, out_dir / DB_NAME)


def merged_report(sweep_dir: Path, outcomes: Sequence[JobOutcome]) -> Path | None:
    """One report over every job that recorded something, written into the sweep folder itself."""
    if not any(o.records for o in outcomes):
        return None
    from evals.render.report import render_run

    return render_run([sweep_dir], sweep_dir)


def print_summary(sweep_dir: Path, outcomes: Sequence[JobOutcome], report: Path | None,
                  launcher_error: str | None) -> None:
    """The closing lines: one per job, totals, the merged report; the very last line is the sweep folder."""
    out = sys.stdout
    print(f"\nsweep {sweep_dir.name}: {len(outcomes)} jobs", file=out)
    for o in outcomes:
        resumed = f", resumed {o.resumes}x" if o.resumes else ""
        print(f"  job {o.num:<3} {o.status:<14} {o.records:>7} records  {o.errors:>5} errors  "
              f"{o.throttled:>5} throttled{resumed}  {o.run_dir.name}", file=out)
    done = sum(o.exit_code == 0 for o in outcomes)
    print(f"jobs: {done} done, {len(outcomes) - done} not done; records: {sum(o.records for o in outcomes)} "
          f"({sum(o.errors for o in outcomes)} errors)", file=out)
    for o in outcomes:
        if o.status in ("died", "interrupted", "failed") and (o.run_dir / RUN_FILE).is_file():
            print(f"resume job {o.num}: bedrock-evals run run.resume={o.run_dir}", file=out)
        elif o.status == "missing":
            print(f"job {o.num} wrote no run directory: it stopped before its run began (its error is in the "
                  "job's output above; on Ray, a node must see run.out_dir at the driver's path)", file=out)
    if launcher_error:
        print(f"launcher: {launcher_error}", file=out)
    print(f"merged report: {report}" if report else "merged report: none (no records)", file=out)
    print(sweep_dir, file=out, flush=True)


def conclude(sweep_dir: Path, plan: SweepPlan, launcher_error: str | None, history_dir: Path | None,
             report: bool) -> int:
    """Outcomes into sweep.json, the history index, the merged report and the summary; returns the exit code."""
    outcomes = finish(sweep_dir, plan, launcher_error)
    if history_dir is not None:
        index_history(history_dir, outcomes)
    merged = merged_report(sweep_dir, outcomes) if report else None
    print_summary(sweep_dir, outcomes, merged, launcher_error)
    interrupted = bool(launcher_error and launcher_error.startswith("interrupted"))
    return max([o.exit_code for o in outcomes] + [130 if interrupted else 1 if launcher_error else 0])
