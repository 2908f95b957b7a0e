"""`bedrock-evals run -m ...`: a Hydra multirun as one sweep folder, one quota and one closing summary.

Before any job starts, every job's config is composed and validated here, so a mistyped key or a bad value in
any job is one line and exit 2, as for a single run, and nothing is written. Then the sweep folder
`<run.out_dir>/<stamp>-<run.name or sweep>/` is created with its plan (sweep.json), and Hydra's configured
launcher (basic, joblib or ray) runs `sweep_job` once per combination; each job's run directory is inside the
sweep folder. When the launcher returns (or fails), the driver reads the jobs' outcomes from disk, indexes
them, renders the merged report into the sweep folder, and prints the summary; the last line is the folder.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evals.commands.sweep_summary import JobPlan, conclude, read_plan, write_plan
from evals.config import _one_line as config_one_line
from evals.config import compose_config
from evals.config_checks import check_sweep
from evals.errors import UserInputError
from evals.redact import redact_argv
from evals.results.rundir import RUN_FILE, RunDirectory, new_run_id
from evals.run.quota_share import QuotaShare, budget_keys, divide
from evals.searchpath import SearchPath, split_argv

MULTIRUN_FLAGS = ("-m", "--multirun")
RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
LABEL_CAP = 60


@dataclass(frozen=True)
class Launcher:
    target: str
    parallel_jobs: int  # how many jobs can run at once
    ray_init: dict[str, Any] | None  # hydra.launcher.ray.init, for the Ray launcher

    @property
    def is_ray(self) -> bool:
        return self.target == RAY_LAUNCHER


def _one_line(err: BaseException) -> str:
    """Hydra's message on one line, without its search path listing or its link to the grammar page."""
    lines = [line for line in config_one_line(err).split(" See https://", 1)[:1] if line]
    return lines[0] if lines else type(err).__name__


def expand(overrides: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Hydra's own sweep expansion (so job numbers match the launcher's): (jobs' overrides, hydra overrides)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as err:
        raise UserInputError(f"config: {_one_line(err)}") from None
    hydra_overrides = [o.input_line for o in parsed if o.is_hydra_override() and o.input_line]
    user = [o for o in parsed if not o.is_hydra_override()]
    jobs = [job for batch in BasicSweeper.split_arguments(user, None) for job in batch] if user else [[]]
    return jobs, hydra_overrides


def launcher_of(hydra_overrides: Sequence[str], job_count: int, search: SearchPath) -> Launcher:
    """The launcher Hydra will use, and how many jobs it runs at once (the basic launcher: one)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    overrides = [*hydra_overrides, *search.override()]
    try:
        with initialize_config_dir(config_dir=str(search.primary), version_base="1.3", job_name="bedrock-evals"):
            launcher = compose("config", overrides=overrides, return_hydra_config=True).hydra.launcher
    except (HydraException, OmegaConfBaseException) as err:
        raise UserInputError(f"config: {_one_line(err)}") from None
    finally:
        GlobalHydra.instance().clear()
    target = str(launcher.get("_target_", ""))
    if target == BASIC_LAUNCHER:
        return Launcher(target, 1, None)
    if target == JOBLIB_LAUNCHER:
        n_jobs = int(launcher.get("n_jobs") or 1)
        return Launcher(target, min(job_count, (os.cpu_count() or 1) if n_jobs < 0 else n_jobs), None)
    if target == RAY_LAUNCHER:
        init = OmegaConf.to_container(launcher.ray.init, resolve=True)
        return Launcher(target, job_count, {str(k): v for k, v in init.items()} if isinstance(init, dict) else {})
    return Launcher(target, job_count, None)  # an unknown launcher may run every job at once


def _validate_jobs(jobs: Sequence[Sequence[str]], search: SearchPath) -> list[tuple[DictConfig, Any]]:
    """Compose and validate every job before anything runs: the first bad one stops the sweep."""
    from evals.commands.run_spec import validate

    checked = []
    for num, job in enumerate(jobs):
        try:
            cfg = compose_config([*job, *search.override()])
            checked.append((cfg, validate(cfg)))
        except UserInputError as err:
            varying = _varying(jobs)
            swept = [o for o in job if o.partition("=")[0].lstrip("+~") in varying]
            where = f" (job {num}: {' '.join(swept)})" if num else ""
            raise UserInputError(f"{err}{where}") from None
    check_sweep([cfg for cfg, _ in checked])
    return checked


def _label(job: Sequence[str], varying: set[str]) -> str:
    parts = []
    for override in job:
        key, _, value = override.partition("=")
        if key.lstrip("+~") in varying:
            parts.append(f"{key.lstrip('+~').rsplit('.', 1)[-1]}-{value}")
    text = re.sub(r"[^A-Za-z0-9_]+", "-", "-".join(parts)).strip("-")
    return text[:LABEL_CAP].rstrip("-")


def _varying(jobs: Sequence[Sequence[str]]) -> set[str]:
    """The keys whose value differs between jobs: what names a job."""
    values: dict[str, set[str]] = {}
    for job in jobs:
        for override in job:
            key, _, value = override.partition("=")
            values.setdefault(key.lstrip("+~"), set()).add(value)
    return {k for k, v in values.items() if len(v) > 1}


def _job_plans(sweep_id: str, jobs: Sequence[Sequence[str]], shares: Sequence[QuotaShare]) -> list[JobPlan]:
    varying = _varying(jobs)
    width = len(str(len(jobs) - 1))
    plans = []
    for num, (job, share) in enumerate(zip(jobs, shares, strict=True)):
        label = _label(job, varying)
        name = f"{sweep_id}-j{num:0{width}d}" + (f"-{label}" if label else "")
        plans.append(JobPlan(num, tuple(job), name, share.to_dict()))
    return plans


def _shares(checked: Sequence[tuple[DictConfig, Any]], launcher: Launcher) -> tuple[str, list[QuotaShare]]:
    keys = [budget_keys(OmegaConf.to_container(cfg.target), spec.card, spec.regions)  # type: ignore[arg-type]
            for cfg, spec in checked]
    if checked[0][0].transport.quota_share == "off":
        return "off", [QuotaShare("whole", k, {r: 1.0 for r in k}) for k in keys]
    if launcher.is_ray:
        from evals.run.quota_broker import BROKER_NAME

        return "ray", [QuotaShare("ray", k, {r: 1.0 for r in k}, launcher.parallel_jobs, BROKER_NAME) for k in keys]
    return "divided", divide(keys, launcher.parallel_jobs)


def _init_ray(init: dict[str, Any]) -> None:
    """Start or join Ray before the launcher does, with settings that work for both.

    The launcher always adds `object_store_memory`, which `ray.init` refuses when it joins an existing cluster
    (RAY_ADDRESS); once Ray is initialised here the launcher reuses it. A Ray started here serves this machine
    only, on loopback (see `local_ray_on_loopback`). Jobs' output reaches the driver's terminal as Ray forwards
    it (each line prefixed with the job's worker), as the basic launcher's jobs print theirs.
    """
    import ray

    opts = dict(init)
    if _joins_cluster(opts):
        opts.pop("object_store_memory", None)
    else:
        opts.pop("address", None)
        opts.setdefault("include_dashboard", False)
    try:
        ray.init(**opts)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise UserInputError(f"hydra.launcher.ray.init: {_one_line(err)}") from None


def _joins_cluster(init: dict[str, Any]) -> bool:
    return bool(init.get("address") or os.environ.get("RAY_ADDRESS"))


def local_ray_on_loopback(init: dict[str, Any]) -> None:
    """A Ray this sweep starts binds to 127.0.0.1, not the host's network address: Ray's single-machine mode.

    Must run before `ray` is first imported (Ray reads the switch at import); Hydra imports the launcher plugin,
    and with it Ray, while composing, so this is decided from the raw overrides.
    """
    if not _joins_cluster(init):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def sweep_job(cfg: DictConfig) -> int:
    """One job, run by the launcher (in this process, a joblib worker or a Ray task); never raises."""
    from hydra.core.hydra_config import HydraConfig

    num = int(HydraConfig.get().job.num)
    try:
        code = _run_job(cfg, num)
    except UserInputError as err:
        print(f"error: job {num}: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # a job's crash is its outcome, not the sweep's end
        print(f"error: job {num}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if code == 130 and HydraConfig.get().launcher.get("_target_") == BASIC_LAUNCHER:
        raise KeyboardInterrupt  # Ctrl-C in the driver's own process: stop the sweep, not just this job
    return code


def _run_job(cfg: DictConfig, num: int) -> int:
    from evals.commands.run import execute_run

    sweep_dir = Path(cfg.run.out_dir)
    plan = read_plan(sweep_dir)
    job = plan.job(num)
    run_path = sweep_dir / job.run_dir
    extra = {"sweep": {"sweep_id": plan.sweep_id, "job": num, "overrides": redact_argv(list(job.overrides)),
                       "launcher": plan.launcher, "host": socket.gethostname(), "pid": os.getpid()}}
    share = QuotaShare.from_dict(job.quota)
    if (run_path / RUN_FILE).is_file():  # a retried job (its process died): the run directory resumes
        return execute_run(cfg, RunDirectory.open_existing(run_path), share=share, extra_info=extra)
    if run_path.is_dir() and not any(run_path.iterdir()):
        run_path.rmdir()  # died before writing run.json: nothing to keep
    return execute_run(cfg, run_id=job.run_dir, share=share, extra_info=extra)


def _launch(overrides: Sequence[str], sweep_dir: Path, launcher: Launcher, search: SearchPath) -> str | None:
    """Run Hydra's multirun; returns the launcher's error in one line, or None."""
    import hydra

    from evals.config import register_configs

    register_configs()
    extra = [*search.override(), f"run.out_dir={sweep_dir}", "run.history=false", f"hydra.sweep.dir={sweep_dir}",
             "hydra.sweep.subdir=.", "hydra.output_subdir=null", "hydra/job_logging=none",
             "hydra/hydra_logging=none"]
    if launcher.parallel_jobs > 1:
        extra.append("run.progress=false")  # parallel bars would garble one terminal
    saved_argv = sys.argv
    sys.argv = ["bedrock-evals", "--multirun", *overrides, *extra]
    try:
        hydra.main(config_path=str(search.primary), config_name="config", version_base="1.3")(sweep_job)()
    except SystemExit as exit_:
        return None if not exit_.code else f"the launcher stopped with exit code {exit_.code}"
    except KeyboardInterrupt:
        return "interrupted (Ctrl-C): jobs not started were not run"
    except Exception as err:  # e.g. Ray gave up on a job whose process kept dying
        return _one_line(err)[:500]
    finally:
        sys.argv = saved_argv
    return None


def multirun(argv: Sequence[str]) -> int:
    """Validate every job, lay out the sweep folder, launch, then summarise from what is on disk."""
    search, rest = split_argv([a for a in argv if a not in MULTIRUN_FLAGS])  # user config folders
    if "hydra/launcher=ray" in rest:
        local_ray_on_loopback({"address": next((a.split("=", 1)[1] for a in rest
                                                if a.lstrip("+").startswith("hydra.launcher.ray.init.address=")),
                                               None)})
    jobs, hydra_overrides = expand(rest)
    checked = _validate_jobs(jobs, search)
    launcher = launcher_of(hydra_overrides, len(jobs), search)
    first = checked[0][0]
    if first.run.dry_run:  # each job's plan, nothing written, nothing launched
        from evals.commands.run import execute_run

        return max(execute_run(cfg) for cfg, _ in checked)
    out_dir = Path(first.run.out_dir).resolve()
    sweep_id = new_run_id(first.run.name or "sweep")
    mode, shares = _shares(checked, launcher)
    if launcher.is_ray:  # before anything is written: a cluster that cannot be joined is one line, exit 2
        _init_ray(launcher.ray_init or {})
    try:
        sweep_dir = RunDirectory.create(out_dir, sweep_id).path
        plan = write_plan(sweep_dir, launcher.target, mode, _job_plans(sweep_id, jobs, shares), list(argv))
        error = _launch(rest, sweep_dir, launcher, search)
    finally:
        if launcher.is_ray:
            import ray

            ray.shutdown()
    return conclude(sweep_dir, plan, error, out_dir if first.run.history else None, bool(first.run.report))
