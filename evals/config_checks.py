"""Every check of a composed run config, each rule written once.

A run and its dry run, every job of a sweep, `doctor` and the preflight all go through `check_config`, so they
accept and refuse the same configs with the same one line, naming the key, before anything is written or sent.
What the structured config (evals/config.py, evals/config_nodes.py) checks while composing (unknown keys,
types) is not repeated here; this is what it cannot express: values left missing, ranges, names to choose
from, and rules across keys (cells against the model card, a sweep's levels, send_refused on aws only, the
regions the emulator serves, a judge model for the `judge` scorer, keys a sweep's jobs must share).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from evals.cards import ModelCard, card_from_mapping, load_card
from evals.config import emulator_options
from evals.emulator.options import EmulatorOptions
from evals.errors import UserInputError
from evals.run.card_checks import card_refusals
from evals.run.plan import check_cells, check_unique
from evals.run.quota_share import check_mode
from evals.run.schedule import make_strategy
from evals.run.transport_settings import TransportSettings
from evals.types import Suite

# (key, lowest value, whether the lowest itself is refused); None always passes (the key is off)
RANGES = (
    ("run.repeats", 1, False), ("load.concurrency", 1, False), ("load.max_in_flight", 1, False),
    ("load.warmup_requests", 0, False), ("load.max_requests", 1, False), ("load.duration_s", 0, True),
    ("load.rate", 0, True), ("run.max_tokens_total", 0, True), ("run.max_cost_usd", 0, True),
    ("run.drain_timeout_s", 0, False), ("run.stop_at_half_width", 0, True), ("transport.max_attempts", 1, False),
    ("transport.processes", 1, False),
)
SWEEP_SHARED = ("run.out_dir", "run.name", "run.resume")  # one sweep folder holds every job


@dataclass(frozen=True)
class CheckedConfig:
    """The model card and the cells a checked config runs."""

    card: ModelCard
    apis: tuple[str, ...]
    regions: tuple[str, ...]
    tiers: tuple[str, ...]


def check_config(cfg: DictConfig, *, refuse_cells: bool = True) -> CheckedConfig:
    """All checks of one composed config. `refuse_cells=False` (doctor) leaves what the card refuses to the
    caller, which reports it as a check of its own instead of stopping."""
    check_complete(cfg)
    card = model_card(cfg)
    if cfg.target.kind not in ("local", "aws"):
        raise UserInputError(f"target.kind: must be local or aws, got {cfg.target.kind!r}")
    check_ranges(cfg)
    check_mode(cfg.transport.quota_share)
    check_error_rate(cfg)
    check_levels(cfg)
    apis, regions, tiers = run_cells(cfg, card, refuse=refuse_cells)
    if cfg.target.kind == "local":
        options = EmulatorOptions.from_dict(emulator_options(cfg), origin="target")  # checks target.*
        for region in regions:
            if region not in options.regions:
                raise UserInputError(f"regions: the emulator serves {', '.join(options.regions)}, not {region!r}")
    check_load(cfg)
    transport_settings(cfg, 1)  # checks transport.* and target.auth
    return CheckedConfig(card, apis, regions, tiers)


def check_complete(cfg: DictConfig) -> None:
    """A required key left without a value (a user's card without `family`, a target without `kind`)."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserInputError(f"{missing[0]}: missing a value (required)")


def model_card(cfg: DictConfig) -> ModelCard:
    node = cast(dict[str, Any], OmegaConf.to_container(cfg.model, resolve=True))
    return card_from_mapping(node, origin=f"model={cfg.model.name}", key_prefix="model.")


def check_ranges(cfg: DictConfig) -> None:
    """Numbers that parse but make no sense (a negative duration, an empty worker pool) stop here."""
    for key, low, strict in RANGES:
        value = OmegaConf.select(cfg, key)
        if value is not None and (value <= low if strict else value < low):
            raise UserInputError(f"{key}: must be {'>' if strict else '>='} {low}, got {value}")
    for level in cfg.load.levels:
        if level <= 0:
            raise UserInputError(f"load.levels: every level must be > 0, got {level}")
    out_dir = Path(cfg.run.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"run.out_dir: {out_dir} exists and is not a directory")


def check_error_rate(cfg: DictConfig) -> None:
    rate = cfg.run.max_error_rate
    if not 0.0 <= rate <= 1.0:
        raise UserInputError(f"run.max_error_rate: must be a share in [0, 1], got {rate}")


def check_levels(cfg: DictConfig) -> None:
    """Sweep levels: at least one, each positive, none twice (a repeated level would be sent and pooled twice)."""
    if cfg.load.strategy != "sweep":
        return
    levels = [float(v) for v in cfg.load.levels]
    if not levels:
        raise UserInputError("load.levels: a sweep needs at least one level")
    check_unique("load.levels", levels)


def run_cells(cfg: DictConfig, card: ModelCard, *, refuse: bool = True
              ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(apis, regions, tiers) of the run: known names, no duplicates, no empty list, nothing the card refuses.

    `regions=null` means the card's source regions; `regions=[]` is an error, not "all regions". What the card
    refuses is refused here on every target, unless `run.send_refused=true` on target=aws, where measuring the
    service's own refusal is the point.
    """
    apis = tuple(cfg.apis)
    regions = tuple(cfg.regions) if cfg.regions is not None else card.source_regions
    tiers = tuple(cfg.tiers)
    check_cells(card, apis, regions, tiers)
    if cfg.run.send_refused and cfg.target.kind != "aws":
        raise UserInputError("run.send_refused: only on target=aws (the emulator's refusals are the card's)")
    refusals = card_refusals(card, apis, regions, tiers) if refuse else []
    if refusals and not cfg.run.send_refused:
        hint = "; on target=aws, run.send_refused=true sends them anyway" if cfg.target.kind == "aws" else ""
        raise UserInputError(refusals[0].line() + hint)
    return apis, regions, tiers


def load_levels(cfg: DictConfig) -> list[float | None]:
    """The sweep's levels, or [None] for a run at one load."""
    if cfg.load.strategy != "sweep":
        return [None]
    if cfg.load.sweep_of not in ("concurrency", "rate"):
        raise UserInputError(f"load.sweep_of: must be concurrency or rate, got {cfg.load.sweep_of!r}")
    return [float(v) for v in cfg.load.levels]


def strategy_at(cfg: DictConfig, level: float | None) -> tuple[str, int, float | None]:
    """(strategy, concurrency, rate) of one load level: a sweep's level sets concurrency or rate."""
    load = cfg.load
    if level is None:
        return str(load.strategy), int(load.concurrency), load.rate
    if load.sweep_of == "concurrency":
        return "closed", int(level), None
    return "poisson", int(load.concurrency), level


def check_load(cfg: DictConfig) -> None:
    """Each level's strategy can be built: a known strategy, a rate for open loops, a ramp for closed ones."""
    for level in load_levels(cfg):
        kind, concurrency, rate = strategy_at(cfg, level)
        make_strategy(kind, concurrency=concurrency, rate=rate, seed=cfg.run.seed, count=1, ramp_s=cfg.load.ramp_s)


def transport_settings(cfg: DictConfig, concurrency: int) -> TransportSettings:
    """The run's client settings from `transport.*` and `target.auth` (checked as they are built)."""
    tc = cfg.transport
    return TransportSettings(
        retry_mode=tc.retry_mode,
        max_attempts=tc.max_attempts,
        connect_timeout_s=tc.connect_timeout_s,
        read_timeout_s=tc.read_timeout_s,
        max_pool_connections=max(concurrency + 4, 10),
        invoke_body_style=tc.invoke_body_style,
        auth=cfg.target.auth,
    )


def judge_card(cfg: DictConfig, suites: Sequence[Suite]) -> ModelCard | None:
    """The judge model's card when a suite scores with `judge` (then `judge.model` must name one), else None."""
    if not any(spec.name == "judge" for suite in suites for spec in suite.scorers):
        return None
    if not cfg.judge.model:
        raise UserInputError("judge.model: a suite scores with 'judge'; name the judge's model card, "
                             "e.g. judge.model=llama4-maverick")
    return load_card(cfg.judge.model)


def check_sweep(cfgs: Sequence[DictConfig]) -> None:
    """What a sweep's jobs must share: one sweep folder holds them all, and a sweep is not resumed as one."""
    for key in SWEEP_SHARED:
        values = {str(OmegaConf.select(cfg, key)) for cfg in cfgs}
        if len(values) > 1:
            raise UserInputError(f"{key}: cannot vary within a sweep (one sweep folder holds every job)")
    if cfgs[0].run.resume:
        raise UserInputError("run.resume: resume a sweep's job on its own: bedrock-evals run run.resume=JOB_DIR")
