"""`bedrock-evals run run.resume=SWEEP_DIR`: finish every job of a sweep that did not complete, then conclude it.

A sweep whose launcher gave up (a joblib worker that died, Ray out of retries, a Ctrl-C, a lost driver) leaves
its jobs' run directories where they were. This resumes them in this process, one after another, each with the
whole quota (it runs alone): a job with a run directory resumes it from its saved config (the resume fingerprint
is checked as for any resume), a job that never started runs from the plan's overrides. Then the sweep's
summary, merged report and history index are redone over every job.
"""

from __future__ import annotations

import sys
from pathlib import Path

from evals.commands.sweep_summary import SWEEP_FILE, JobPlan, SweepPlan, conclude, job_outcome, read_plan
from evals.errors import UserInputError
from evals.results.rundir import RUN_FILE
from evals.run.quota_share import QuotaShare

DONE = ("completed", "budget-stopped")


def sweep_to_resume(argv: list[str]) -> Path | None:
    """The sweep folder named by `run.resume=`, or None when it names a run directory (or nothing)."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+") == "run.resume" and value:
            path = Path(value)
            if (path / SWEEP_FILE).is_file() and not (path / RUN_FILE).exists():
                return path
    return None


def _run_one(sweep_dir: Path, plan: SweepPlan, job: JobPlan, force: list[str]) -> int:
    from evals.commands.run import _resume_config, execute_run
    from evals.config import compose_config

    share = QuotaShare("whole", dict(job.quota.get("keys") or {}))
    extra = {"sweep": {"sweep_id": plan.sweep_id, "job": job.num, "overrides": list(job.overrides),
                       "launcher": "resume (this process)"}}
    run_path = sweep_dir / job.run_dir
    if (run_path / RUN_FILE).is_file():
        resumed = _resume_config([f"run.resume={run_path}", *force])
        assert resumed is not None
        return execute_run(resumed[0], resumed[1], share=share, extra_info=extra)
    if run_path.is_dir() and not any(run_path.iterdir()):
        run_path.rmdir()
    cfg = compose_config([*job.overrides, f"run.out_dir={sweep_dir.resolve()}", "run.history=false"])
    return execute_run(cfg, run_id=job.run_dir, share=share, extra_info=extra)


def resume_sweep(sweep_dir: Path, argv: list[str]) -> int:
    others = [a for a in argv if a.partition("=")[0].lstrip("+") not in ("run.resume", "run.resume_force")]
    if others:
        raise UserInputError(f"run.resume: other overrides are not allowed when resuming a sweep ({others[0]})")
    force = [a for a in argv if a.partition("=")[0] == "run.resume_force"]
    plan = read_plan(sweep_dir)
    stopped = None
    for job in plan.jobs:
        if job_outcome(sweep_dir, job).status in DONE:
            continue
        print(f"sweep {plan.sweep_id}: job {job.num} ({job.run_dir})", flush=True)
        try:
            code = _run_one(sweep_dir, plan, job, force)
        except UserInputError as err:
            print(f"error: job {job.num}: {err}", file=sys.stderr)
            continue
        if code == 130:
            stopped = "interrupted (Ctrl-C): jobs after it were not resumed"
            break
    return conclude(sweep_dir, plan, stopped, sweep_dir.resolve().parent, report=True)
