"""What a run is, checked: the composed config validated into a RunSpec before anything is written or sent.

Shared by `run` and `doctor`, so both refuse the same things with the same one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from evals.cards import ModelCard, card_from_mapping, load_card
from evals.config import emulator_options
from evals.errors import UserInputError
from evals.run.cell_checks import check_error_rate, check_levels, run_cells
from evals.run.plan import build_plan, extend_plan
from evals.run.quota_share import check_mode
from evals.run.schedule import Strategy, make_strategy
from evals.types import Request, Suite

# plan-size cap for closed-loop runs bounded only by duration
DURATION_PLAN_CAP = 200_000


@dataclass(frozen=True)
class RunSpec:
    """Everything validated from the config, ready to plan and run."""

    cfg: DictConfig
    card: ModelCard
    suites: tuple[Suite, ...]
    apis: tuple[str, ...]
    regions: tuple[str, ...]
    tiers: tuple[str, ...]
    groups: tuple[tuple[Strategy, tuple[Request, ...]], ...]  # (strategy, requests) per load level
    judge_card: ModelCard | None = None  # the judge scorer's model, when a suite scores with `judge`

    @property
    def planned(self) -> int:
        return sum(len(reqs) for _, reqs in self.groups)


def _load_suites(cfg: DictConfig, card: ModelCard) -> tuple[Suite, ...]:
    from evals.suites import load_suite  # imported late: suites pull in datasets/Pillow

    spec = cast(dict[str, Any], OmegaConf.to_container(cfg.suite, resolve=True))
    return (load_suite(spec, card),)


def _check_ranges(cfg: DictConfig) -> None:
    """Numbers that parse but make no sense (a negative duration, an empty worker pool) stop here."""
    checks = [
        ("run.repeats", cfg.run.repeats, 1, False), ("load.concurrency", cfg.load.concurrency, 1, False),
        ("load.max_in_flight", cfg.load.max_in_flight, 1, False),
        ("load.warmup_requests", cfg.load.warmup_requests, 0, False),
        ("load.max_requests", cfg.load.max_requests, 1, False), ("load.duration_s", cfg.load.duration_s, 0, True),
        ("load.rate", cfg.load.rate, 0, True), ("run.max_tokens_total", cfg.run.max_tokens_total, 0, True),
        ("run.max_cost_usd", cfg.run.max_cost_usd, 0, True), ("run.drain_timeout_s", cfg.run.drain_timeout_s, 0, False),
        ("run.stop_at_half_width", cfg.run.stop_at_half_width, 0, True),
        ("transport.max_attempts", cfg.transport.max_attempts, 1, False),
        ("transport.processes", cfg.transport.processes, 1, False),
    ]
    for key, value, low, strict in checks:
        if value is not None and (value <= low if strict else value < low):
            raise UserInputError(f"{key}: must be {'>' if strict else '>='} {low}, got {value}")
    for level in cfg.load.levels:
        if level <= 0:
            raise UserInputError(f"load.levels: every level must be > 0, got {level}")
    out_dir = Path(cfg.run.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"run.out_dir: {out_dir} exists and is not a directory")


def _plan_groups(cfg: DictConfig, card: ModelCard, suites: tuple[Suite, ...], apis, regions, tiers):
    load, run = cfg.load, cfg.run
    if load.strategy == "sweep":
        if load.sweep_of not in ("concurrency", "rate"):
            raise UserInputError(f"load.sweep_of: must be concurrency or rate, got {load.sweep_of!r}")
        levels: list[float | None] = [float(v) for v in load.levels]
    else:
        levels = [None]
    groups = []
    for level in levels:
        plan = build_plan(suites, card, apis, regions, tiers, run.repeats, run.seed, level, load.warmup_requests)
        kind = load.strategy
        concurrency, rate = load.concurrency, load.rate
        if level is not None:
            kind = "closed" if load.sweep_of == "concurrency" else "poisson"
            concurrency, rate = (int(level), None) if kind == "closed" else (load.concurrency, level)
        make_strategy(kind, concurrency=concurrency, rate=rate, seed=run.seed, count=1,
                      ramp_s=load.ramp_s)  # checks kind, rate and ramp
        target = None
        if load.duration_s is not None:
            target = math.ceil(rate * load.duration_s) if kind != "closed" else DURATION_PLAN_CAP
        if load.max_requests is not None:
            target = min(target, load.max_requests) if target is not None else load.max_requests
            target += load.warmup_requests
        if target is not None:
            plan = extend_plan(plan, target)
        strategy = make_strategy(kind, concurrency=concurrency, rate=rate, seed=run.seed, count=len(plan),
                                 ramp_s=load.ramp_s)
        groups.append((strategy, tuple(plan)))
    return tuple(groups)


def validate(cfg: DictConfig) -> RunSpec:
    """All checks a run needs before anything is written; raises UserInputError with one line."""
    model = cast(dict[str, Any], OmegaConf.to_container(cfg.model, resolve=True))
    card = card_from_mapping(model, origin=f"model={cfg.model.name}", key_prefix="model.")
    if cfg.target.kind not in ("local", "aws"):
        raise UserInputError(f"target.kind: must be local or aws, got {cfg.target.kind!r}")
    _check_ranges(cfg)
    check_mode(cfg.transport.quota_share)
    check_error_rate(cfg)
    check_levels(cfg)
    apis, regions, tiers = run_cells(cfg, card)
    if cfg.target.kind == "local":
        from evals.emulator.options import EmulatorOptions

        options = EmulatorOptions.from_dict(emulator_options(cfg), origin="target")  # checks target.* now
        served = options.regions
        for region in regions:
            if region not in served:
                raise UserInputError(f"regions: the emulator serves {', '.join(served)}, not {region!r}")
    suites = _load_suites(cfg, card)
    judge_card = None
    if any(spec.name == "judge" for suite in suites for spec in suite.scorers):
        if not cfg.judge.model:
            raise UserInputError("judge.model: a suite scores with 'judge'; name the judge's model card, "
                                 "e.g. judge.model=llama4-maverick")
        judge_card = load_card(cfg.judge.model)
    groups = _plan_groups(cfg, card, suites, apis, regions, tiers)
    return RunSpec(cfg, card, suites, apis, regions, tiers, groups, judge_card)
