"""Checks on a composed run config that need the model card: the cells to send and the switches around them.

Each raises UserInputError with one line naming the key, before any file is written or request sent.
"""

from __future__ import annotations

from omegaconf import DictConfig

from evals.cards import ModelCard
from evals.errors import UserInputError
from evals.run.card_checks import card_refusals
from evals.run.plan import check_cells, check_unique


def run_cells(cfg: DictConfig, card: ModelCard) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
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
    refusals = card_refusals(card, apis, regions, tiers)
    if refusals and not cfg.run.send_refused:
        hint = "; on target=aws, run.send_refused=true sends them anyway" if cfg.target.kind == "aws" else ""
        raise UserInputError(refusals[0].line() + hint)
    return apis, regions, tiers


def check_levels(cfg: DictConfig) -> None:
    """Sweep levels: at least one, each positive, none twice (a repeated level would be sent and pooled twice)."""
    if cfg.load.strategy != "sweep":
        return
    levels = [float(v) for v in cfg.load.levels]
    if not levels:
        raise UserInputError("load.levels: a sweep needs at least one level")
    check_unique("load.levels", levels)


def check_error_rate(cfg: DictConfig) -> None:
    rate = cfg.run.max_error_rate
    if not 0.0 <= rate <= 1.0:
        raise UserInputError(f"run.max_error_rate: must be a share in [0, 1], got {rate}")
