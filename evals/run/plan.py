"""Expand suites x apis x regions x tiers x repeats into interleaved requests with stable ids."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from evals.cards import ModelCard
from evals.errors import UserInputError
from evals.types import Request, Suite


@dataclass(frozen=True)
class Cell:
    api: str
    region: str
    tier: str


def request_id(
    suite: str, suite_version: str, sample_id: str, cell: Cell, repeat: int, level: float | None, warmup: bool
) -> str:
    """Stable id: the same parts always mean the same request, so resume and repeats line up."""
    parts = [suite, suite_version, sample_id, cell.api, cell.region, cell.tier, str(repeat)]
    parts += [f"level={level:g}" if level is not None else "", "warmup" if warmup else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def check_unique(key: str, values: Sequence[object]) -> None:
    """A list that names a value twice would send and count its requests twice; an empty one sends nothing."""
    if not values:
        raise UserInputError(f"{key}: must name at least one value, got []")
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise UserInputError(f"{key}: {value!r} is listed twice; each value may appear once")
        seen.add(value)


def check_cells(card: ModelCard, apis: Sequence[str], regions: Sequence[str], tiers: Sequence[str]) -> None:
    """Reject names that are not APIs, regions or tiers at all, empty lists and duplicates.

    What a known name cannot do on this card (a region it is not served in, a tier it lacks, streaming it does
    not support) is `evals.run.card_checks.card_refusals`, decided by the caller.
    """
    known_apis = {"converse", "invoke", "converse_stream", "invoke_stream"}
    for key, values in (("apis", apis), ("regions", regions), ("tiers", tiers)):
        check_unique(key, values)
    for api in apis:
        if api not in known_apis:
            raise UserInputError(f"apis: unknown API {api!r} (one of {', '.join(sorted(known_apis))})")
    for tier in tiers:
        if tier not in ("default", "priority", "flex", "reserved"):
            raise UserInputError(f"tiers: unknown service tier {tier!r} (default, priority, flex, reserved)")


def build_plan(
    suites: Sequence[Suite],
    card: ModelCard,
    apis: Sequence[str],
    regions: Sequence[str],
    tiers: Sequence[str],
    repeats: int,
    seed: int,
    level: float | None = None,
    warmup_requests: int = 0,
) -> list[Request]:
    """Interleave cells over time: each round sends one sample through every cell in a seeded order.

    Rounds are (repeat, suite, sample) in a seeded shuffle; inside a round the cell order is shuffled too,
    so no region or API systematically goes first and all cells see the same conditions.
    """
    cells = [Cell(a, r, t) for a in apis for r in regions for t in tiers]
    rng = random.Random(f"plan:{seed}:{level}")
    rounds = [(rep, suite, i) for rep in range(repeats) for suite in suites for i in range(len(suite.samples))]
    order = list(range(len(rounds)))
    rng.shuffle(order)
    # keep repeats in sequence (repeat 0 of everything before repeat 1) so a partial run is balanced
    order.sort(key=lambda i: rounds[i][0])
    requests: list[Request] = []

    def emit(rep: int, suite: Suite, sample_index: int, cell: Cell, warmup: bool) -> None:
        sample = suite.samples[sample_index]
        requests.append(
            Request(
                request_id=request_id(suite.name, suite.version, sample.id, cell, rep, level, warmup),
                index=len(requests),
                suite=suite.name,
                suite_version=suite.version,
                sample=sample,
                params=suite.params,
                api=cell.api,
                region=cell.region,
                tier=cell.tier,
                model_id=card.invocation_id(cell.region),
                repeat=rep,
                warmup=warmup,
                load_level=level,
            )
        )

    flat = [(suite, sample_index) for _, suite, sample_index in rounds]
    for w in range(warmup_requests):
        suite, sample_index = flat[w % len(flat)]
        emit(w // len(flat), suite, sample_index, cells[w % len(cells)], warmup=True)
    for i in order:
        rep, suite, sample_index = rounds[i]
        cell_order = list(cells)
        rng.shuffle(cell_order)
        for cell in cell_order:
            emit(rep, suite, sample_index, cell, warmup=False)
    return requests


def extend_plan(plan: list[Request], count: int) -> list[Request]:
    """Cycle a plan with fresh repeat numbers until it holds `count` requests (duration-based runs)."""
    if len(plan) >= count:
        return plan[:count]
    measured = [r for r in plan if not r.warmup]
    if not measured:
        return plan
    out = list(plan)
    span = max(r.repeat for r in measured) + 1
    cycle = 1
    while len(out) < count:
        for base in measured[: count - len(out)]:
            rep = base.repeat + cycle * span
            cell = Cell(base.api, base.region, base.tier)
            rid = request_id(base.suite, base.suite_version, base.sample.id, cell, rep, base.load_level, False)
            out.append(replace(base, request_id=rid, index=len(out), repeat=rep))
        cycle += 1
    return out


def cells_of(requests: Iterable[Request]) -> list[Cell]:
    return list(dict.fromkeys(Cell(r.api, r.region, r.tier) for r in requests))
