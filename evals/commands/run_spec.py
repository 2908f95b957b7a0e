"""What a run is: the composed config, checked (evals/config_checks.py), with its suites loaded and its plan
built into a RunSpec before anything is written or sent. Shared by `run`, its dry run and each job of a sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from evals.cards import ModelCard
from evals.config_checks import check_config, judge_card, load_levels, strategy_at
from evals.run.plan import build_plan, extend_plan
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


def _plan_groups(cfg: DictConfig, card: ModelCard, suites: tuple[Suite, ...], apis: tuple[str, ...],
                 regions: tuple[str, ...], tiers: tuple[str, ...]) -> tuple[tuple[Strategy, tuple[Request, ...]], ...]:
    """(strategy, requests) per load level, each plan extended to the requests or duration the load asks for."""
    load, run = cfg.load, cfg.run
    groups = []
    for level in load_levels(cfg):
        plan = build_plan(suites, card, apis, regions, tiers, run.repeats, run.seed, level, load.warmup_requests)
        kind, concurrency, rate = strategy_at(cfg, level)
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
    """All checks a run needs before anything is written (evals/config_checks.py), then its suites and plan;
    raises UserInputError with one line."""
    checked = check_config(cfg)
    card, apis, regions, tiers = checked.card, checked.apis, checked.regions, checked.tiers
    suites = _load_suites(cfg, card)
    judge = judge_card(cfg, suites)
    groups = _plan_groups(cfg, card, suites, apis, regions, tiers)
    return RunSpec(cfg, card, suites, apis, regions, tiers, groups, judge)
