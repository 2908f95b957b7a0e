"""`bedrock-evals run [overrides]`: compose config, validate everything, then plan, run, record and report.

Every user-input check happens before the run directory is created or a request is sent, so bad input
leaves nothing half-written. The last line printed is the run directory.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from evals.cards import ModelCard
from evals.commands.interrupts import Interrupts, after_run_handler
from evals.commands.run_finish import Finish, finish_run
from evals.commands.run_spec import RunSpec, validate
from evals.commands.run_target import describe_target, open_target
from evals.config import compose_config, config_from_saved, parse_bool
from evals.config_checks import transport_settings
from evals.errors import UserInputError
from evals.gcpause import GcPauses
from evals.redact import redact_config
from evals.results.outcome import exit_code
from evals.results.rundir import RunDirectory, new_run_id, provenance, utc_now
from evals.results.schema import RUN_SCHEMA_VERSION
from evals.run.budget import Budget
from evals.run.limiter import RegionLimiters
from evals.run.quota_share import QuotaShare, make_gate
from evals.run.resume import absolute_paths, check_resume, fingerprint, spent_in_records, what_changed
from evals.run.runner import Runner, progress_bar
from evals.run.schedule import ClosedLoop
from evals.storage import Ballast, RecordWriter, describe

if TYPE_CHECKING:  # imported late at run time: boto3 and the sender processes are not needed to validate
    from evals.run.process_sender import ProcessSender
    from evals.run.transport import Transport

def _resume_config(overrides: list[str]) -> tuple[DictConfig, RunDirectory] | None:
    resume = [o for o in overrides if o.split("=", 1)[0].lstrip("+") == "run.resume"]
    if not resume:
        return None
    force = [o for o in overrides if o.split("=", 1)[0] == "run.resume_force"]
    others = [o for o in overrides if o not in resume and o not in force]
    if others:
        raise UserInputError(f"run.resume: other overrides are not allowed with resume ({others[0]}); "
                             "the run's saved config is used")
    run_dir = RunDirectory.open_existing(Path(resume[0].split("=", 1)[1]))
    info = run_dir.read_run()
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        raise UserInputError(f"{run_dir.run_file}: no saved config to resume from")
    cfg = config_from_saved(info["config"], str(run_dir.run_file))
    for item in force:
        cfg.run.resume_force = parse_bool("run.resume_force", item.split("=", 1)[1])
    return cfg, run_dir


def _make_transport(cfg: DictConfig, card: ModelCard, endpoints: dict[str, Any] | None,
                    concurrency: int) -> Transport:
    from evals.run.transport import Transport

    return Transport(transport_settings(cfg, concurrency), family=card.family, endpoints=endpoints,
                     concurrency=concurrency)


def _make_sender(cfg: DictConfig, spec: RunSpec, endpoints: dict[str, Any] | None,
                 concurrency: int) -> Transport | ProcessSender:
    """The run's own transport, or with `transport.processes` > 1 worker processes with their own clients."""
    if cfg.transport.processes == 1:
        transport = _make_transport(cfg, spec.card, endpoints, concurrency)
        for region in spec.regions:  # build clients now so their set-up cost never lands in a request
            transport.client(region)
        return transport
    from evals.run.process_sender import ProcessSender

    return ProcessSender(transport_settings(cfg, concurrency), spec.card.family, endpoints,
                         processes=cfg.transport.processes, concurrency=concurrency, regions=spec.regions)


def _max_concurrency(cfg: DictConfig) -> int:
    load = cfg.load
    if load.strategy == "sweep" and load.sweep_of == "concurrency":
        return int(max(load.levels))
    if load.strategy == "closed":
        return int(load.concurrency)
    return int(load.max_in_flight)


def main(argv: list[str]) -> int:
    from evals.commands.run_help import wants_help

    if wants_help(argv):  # --help, -h, --cfg job: print and exit, nothing composed into a run
        from evals.commands.run_help import main as help_main

        return help_main(argv)
    resumed = _resume_config(argv)
    if resumed:
        return execute_run(resumed[0], resumed[1])
    return execute_run(compose_config(argv))


def _new_run_info(cfg: DictConfig, spec: RunSpec, run_dir: RunDirectory, target_info: dict[str, Any]) -> dict:
    return {
        "schema": RUN_SCHEMA_VERSION,
        "run_id": run_dir.path.name,
        "status": "running",
        "started_at": utc_now(),
        "clock_origin_unix_ns": time.time_ns(),
        "config": redact_config(OmegaConf.to_container(cfg, resolve=True)),
        "target": target_info,
        "model": {"card": spec.card.name, "model_id": spec.card.model_id,
                  "ids_sent": {r: spec.card.invocation_id(r) for r in spec.regions}},
        "suites": [{"name": s.name, "version": s.version, "source": s.source, "samples": len(s.samples)}
                   for s in spec.suites],
        "cells": {"apis": list(spec.apis), "regions": list(spec.regions), "tiers": list(spec.tiers)},
        "planned": spec.planned,
        "provenance": provenance(),
    }


def _open_run_dir(
    cfg: DictConfig, spec: RunSpec, target_info: dict[str, Any], resumed: RunDirectory | None,
    inputs: dict[str, Any], run_id: str | None = None,
) -> tuple[RunDirectory, dict[str, Any], set[str]]:
    """A new run directory, or the resumed one with its torn tail cut and its finished requests known."""
    if resumed is None:
        run_dir = RunDirectory.create(Path(cfg.run.out_dir), run_id or new_run_id(cfg.run.name))
        try:
            run_dir.lock()
            Ballast(run_dir.path).hold()
            _write_thumbnails(run_dir, spec)
        except OSError:
            shutil.rmtree(run_dir.path, ignore_errors=True)  # nothing half-written
            raise
        run_info, finished = _new_run_info(cfg, spec, run_dir, target_info), set()
    else:
        run_dir = resumed
        run_dir.lock()
        Ballast(run_dir.path).hold()  # before run.json changes: a resume on a full disk leaves it as it was
        removed = run_dir.repair_torn_tail()
        finished = run_dir.finished_request_ids()
        run_info = dict(run_dir.read_run())  # grows with the run: a plain dict until it is written
        forced = what_changed(run_info.get("fingerprint") or {}, inputs)
        run_info.setdefault("resumes", []).append(
            {"at": utc_now(), "torn_bytes_removed": removed, "already_finished": len(finished),
             **({"forced_despite": forced} if forced else {})})
    run_info["fingerprint"] = inputs  # a forced resume's inputs are what the next resume compares with
    run_info["status"] = "running"
    return run_dir, run_info, finished


def _write_thumbnails(run_dir: RunDirectory, spec: RunSpec) -> None:
    """Small JPEGs of the suites' images for the report's sample viewer (records hold no image bytes)."""
    from evals.suites.images import THUMBNAILS_FILE, thumbnails

    thumbs = thumbnails((suite.name, suite.samples) for suite in spec.suites)
    if thumbs:
        (run_dir.path / THUMBNAILS_FILE).write_text(json.dumps(thumbs), encoding="utf-8")


def _start_storage(
    cfg: DictConfig, spec: RunSpec, target_info: dict[str, Any], resumed: RunDirectory | None,
    inputs: dict[str, Any], run_id: str | None, extra: dict[str, Any],
) -> tuple[RunDirectory, dict[str, Any], set[str], RecordWriter]:
    """Open the run directory, write run.json and open the records file. Storage that fails here (a file where
    the directory should be, read-only, full) is one line; a directory created for this run is removed again."""
    try:
        run_dir, run_info, finished = _open_run_dir(cfg, spec, target_info, resumed, inputs, run_id)
    except OSError as err:
        where = resumed.path if resumed is not None else Path(cfg.run.out_dir)
        raise UserInputError(f"{'run.resume' if resumed else 'run.out_dir'}: cannot write {where}: "
                             f"{describe(err)}") from None
    try:
        run_info.update(extra)
        run_dir.write_run(run_info)
        return run_dir, run_info, finished, RecordWriter(run_dir.records_file)
    except OSError as err:
        if resumed is None:
            shutil.rmtree(run_dir.path, ignore_errors=True)
        raise UserInputError(f"{'run.resume' if resumed else 'run.out_dir'}: cannot write {run_dir.path}: "
                             f"{describe(err)}") from None


def _judge_scorer(cfg: DictConfig, spec: RunSpec, endpoints: dict[str, Any] | None, concurrency: int):
    """The `judge` scorer wired to the judge model through the run's own target, or None when unused."""
    if spec.judge_card is None:
        return None, None
    from evals.run.judge import JudgeClient
    from evals.scorers import JudgeScorer

    sender = _make_transport(cfg, spec.judge_card, endpoints, concurrency)
    region = cfg.judge.region or spec.regions[0]
    client = JudgeClient(spec.judge_card, region, cfg.judge.api, sender, max_tokens=cfg.judge.max_tokens)
    return JudgeScorer(complete=client.complete), client


def _precision_stop(cfg: DictConfig, spec: RunSpec, run_dir: RunDirectory):
    """`run.stop_at_half_width`: the early stop fed with every record (a resumed run's earlier ones first)."""
    if cfg.run.stop_at_half_width is None:
        return None
    from evals.results.rundata import CellKey
    from evals.run.precision import PrecisionStop

    cells = {CellKey(s.name, r, a, t) for s in spec.suites for r in spec.regions for a in spec.apis for t in spec.tiers}
    stop = PrecisionStop(cfg.run.stop_at_half_width, cells)
    for record in run_dir.iter_records():
        stop.observe(record)
    return stop.observe


def execute_run(cfg: DictConfig, resumed: RunDirectory | None = None, *, run_id: str | None = None,
                share: QuotaShare | None = None, extra_info: dict[str, Any] | None = None) -> int:
    """Validate, run and report one configuration; returns the process exit code.

    A sweep's job passes its run directory's name, its quota share and what run.json says about the sweep.
    Ctrl-C is handled from the start to the final status (evals/commands/interrupts.py), the emulator's stop included.
    """
    interrupts = Interrupts()
    previous = signal.signal(signal.SIGINT, interrupts.on_sigint)
    try:
        return _execute_run(cfg, resumed, interrupts, run_id=run_id, share=share, extra_info=extra_info)
    finally:
        signal.signal(signal.SIGINT, after_run_handler(previous))


def _execute_run(cfg: DictConfig, resumed: RunDirectory | None, interrupts: Interrupts, *, run_id: str | None,
                 share: QuotaShare | None, extra_info: dict[str, Any] | None) -> int:
    absolute_paths(cfg)  # saved absolute, so a resume from any directory reads the same files
    spec = validate(cfg)
    inputs = fingerprint(redact_config(OmegaConf.to_container(cfg, resolve=True)), spec.suites)
    if resumed is not None:
        check_resume(resumed.run_file, resumed.read_run().get("fingerprint"), inputs, cfg.run.resume_force)
    if cfg.run.dry_run or cfg.target.kind == "aws":  # before the emulator starts or anything is written
        from evals.commands.doctor import before_run

        if (code := before_run(cfg, spec)) is not None:
            return code
    concurrency = _max_concurrency(cfg)
    with open_target(cfg, spec.regions) as endpoints, contextlib.ExitStack() as cleanup:
        target_info = describe_target(cfg, endpoints)
        sender = _make_sender(cfg, spec, endpoints, concurrency)
        cleanup.callback(sender.close)  # closed last: after the records file, so nothing lands after its close
        judge, judge_client = _judge_scorer(cfg, spec, endpoints, concurrency)
        interrupts.hold()  # from here a Ctrl-C never raises: the run directory is about to be written
        quota = make_gate(OmegaConf.to_container(cfg.target), spec.card, spec.regions,  # type: ignore[arg-type]
                          cfg.transport.client_rate_limit, endpoints, share)
        run_dir, run_info, finished, writer = _start_storage(
            cfg, spec, target_info, resumed, inputs, run_id, {**(extra_info or {}), "quota": quota.describe()})
        bar = progress_bar(sum(r.request_id not in finished for _, g in spec.groups for r in g), cfg.run.progress)
        runner = _make_runner(cfg, spec, run_dir, run_info, _Wiring(sender, writer, quota, bar, judge,
                                                                     target_info.get("engine") == "oracle"))
        interrupts.attach(runner)
        gc_pauses = GcPauses()
        try:
            with gc_pauses:
                for strategy, requests in spec.groups:
                    runner.execute([r for r in requests if r.request_id not in finished], strategy,
                                   cfg.run.drain_timeout_s)
        finally:
            interrupts.detach()
            writer.close()
            if bar is not None:
                bar.close()
            if judge_client is not None:
                judge_client.sender.close()

    run_info["client_gc"] = gc_pauses.summary()  # the run process's own stalls, to tell them from the service's
    open_loop = any(not isinstance(s, ClosedLoop) for s, _ in spec.groups)
    status, outcome = finish_run(cfg, run_dir, run_info, runner, writer, interrupts,
                                 Finish(spec.planned, open_loop, _judge_summary(spec, judge_client)))
    print(run_dir.path)
    return exit_code(status, outcome)


@dataclass(frozen=True)
class _Wiring:
    """The parts a run's Runner is wired to, built inside the target's lifetime."""

    sender: Transport | ProcessSender
    writer: RecordWriter
    quota: RegionLimiters
    bar: Any
    judge: Any  # the judge scorer, or None
    oracle: bool  # the emulator's oracle engine: each request carries its sample's reference answer


def _make_runner(cfg: DictConfig, spec: RunSpec, run_dir: RunDirectory, run_info: dict[str, Any],
                 wiring: _Wiring) -> Runner:
    """The Runner for this session, its clock continuing a resumed run's timeline and budget."""
    from evals.apis.common import effective_max_tokens
    from evals.apis.metadata import build_request_metadata
    from evals.scorers import score_response
    from evals.suites import oracle_text

    scorers = {s.name: s.scorers for s in spec.suites}
    judge, oracle = wiring.judge, wiring.oracle
    # one timeline across sessions: a resumed run's times continue from the first start's wall clock
    elapsed_ns = time.time_ns() - int(run_info.get("clock_origin_unix_ns", time.time_ns()))
    return Runner(
        run_id=run_dir.path.name,
        origin_ns=time.perf_counter_ns() - max(elapsed_ns, 0),
        session=len(run_info.get("resumes", [])),
        on_record=_precision_stop(cfg, spec, run_dir),
        sender=wiring.sender,
        writer=wiring.writer,
        pricing=spec.card.pricing,
        limiters=wiring.quota,
        budget=Budget(spec.card.pricing, cfg.run.max_tokens_total, cfg.run.max_cost_usd,
                      spent=spent_in_records(run_dir.iter_records(), spec.card.pricing)),
        score=lambda req, text: score_response(scorers[req.suite], req.sample, text, judge=judge),
        metadata_for=lambda req: build_request_metadata(req, oracle_text(req.sample) if oracle else None),
        max_tokens_for=effective_max_tokens,
        progress=wiring.bar,
        duration_s=cfg.load.duration_s,
        max_in_flight=int(cfg.load.max_in_flight),
    )


def _judge_summary(spec: RunSpec, judge_client: Any) -> dict[str, Any] | None:
    """What run.json says about the judge model's own calls, or None when no suite scored with `judge`."""
    if judge_client is None or spec.judge_card is None:
        return None
    t = judge_client.tally
    return {"model": spec.judge_card.name, "region": judge_client.region, "calls": t.calls,
            "errors": t.errors, "input_tokens": t.input_tokens, "output_tokens": t.output_tokens}
