"""What a planned run will cost before it is sent: requests per cell, tokens per quota, dollars and minutes.

Pure arithmetic over the plan and the model card, for `run.dry_run=true` and the preflight summary. Input
tokens use the same generous estimate the quota limiter and budget reserve with (characters / 3 plus image
tiles), so the figures are upper-leaning; output tokens range from one per request to the request's maxTokens.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from evals.cards import ModelCard
from evals.run.budget import estimate_input_tokens
from evals.types import Request


@dataclass(frozen=True)
class RegionLoad:
    """One region's share of the plan against the card's per-region quotas (each region has its own)."""

    region: str
    requests: int
    tokens_reserved: int  # estimated input + maxTokens, what the service counts against tokens per minute
    requests_per_minute: float
    tokens_per_minute: float
    tokens_per_day: float

    @property
    def min_minutes(self) -> float:
        """The quota floor: no schedule can send this region's share faster without being throttled."""
        return max(self.requests / self.requests_per_minute, self.tokens_reserved / self.tokens_per_minute)

    @property
    def days_by_daily_quota(self) -> int:
        return math.ceil(self.tokens_reserved / self.tokens_per_day) if self.tokens_per_day else 0


@dataclass(frozen=True)
class Estimate:
    cells: dict[tuple[str, str, str, str], int]  # (suite, region, api, tier) -> requests (warm-up included)
    regions: tuple[RegionLoad, ...]
    input_tokens: int
    max_output_tokens: int
    cost_low: float  # estimated input, one output token per request
    cost_high: float  # estimated input, every request writing its maxTokens
    currency: str

    @property
    def requests(self) -> int:
        return sum(self.cells.values())

    @property
    def min_minutes(self) -> float:
        """Regions have separate quotas and run side by side, so the slowest region sets the floor."""
        return max((r.min_minutes for r in self.regions), default=0.0)


def estimate(card: ModelCard, requests: Iterable[Request], max_tokens_for: Callable[[Request], int],
             quota_scale: float = 1.0) -> Estimate:
    """Add up the plan; `quota_scale` is the emulator's multiplier on the card's quotas (1 on AWS)."""
    cells: Counter[tuple[str, str, str, str]] = Counter()
    per_region: dict[str, list[int]] = {}
    input_tokens = output_tokens = 0
    for req in requests:
        cells[(req.suite, req.region, req.api, req.tier)] += 1
        tokens_in, tokens_out = estimate_input_tokens(req.sample), max_tokens_for(req)
        input_tokens += tokens_in
        output_tokens += tokens_out
        counts = per_region.setdefault(req.region, [0, 0])
        counts[0] += 1
        counts[1] += tokens_in + tokens_out
    q = card.quotas
    regions = tuple(
        RegionLoad(region, n, tokens, q.requests_per_minute * quota_scale, q.tokens_per_minute * quota_scale,
                   q.tokens_per_day * quota_scale)
        for region, (n, tokens) in sorted(per_region.items())
    )
    price = card.pricing
    n = sum(cells.values())
    return Estimate(dict(cells), regions, input_tokens, output_tokens,
                    cost_low=price.cost(input_tokens, n), cost_high=price.cost(input_tokens, output_tokens),
                    currency=price.currency)


def _duration(minutes: float) -> str:
    seconds = minutes * 60
    if seconds < 120:
        return f"{seconds:.0f} s"
    if minutes < 120:
        return f"{minutes:.1f} min"
    return f"{minutes / 60:.1f} h"


def plan_lines(card: ModelCard, est: Estimate, target: str, levels: Sequence[str] = ()) -> list[str]:
    """The dry run's printout: one block per question a user asks before spending."""
    lines = [f"dry run: {est.requests} requests to {card.name} ({card.model_id}) on target={target}; "
             "nothing is sent and no run directory is created"]
    if levels:
        lines.append(f"load levels: {', '.join(levels)} (the plan is sent once per level)")
    lines.append("requests per cell (suite / region / api / tier):")
    lines += [f"  {'/'.join(cell):<52} {count:>7}" for cell, count in sorted(est.cells.items())]
    lines.append("tokens reserved per quota (estimated input + maxTokens, per region; card quotas"
                 + (" x emulator quota_scale" if target == "local" else "") + "):")
    for r in est.regions:
        daily = f"; {r.days_by_daily_quota} day(s) of tokens-per-day quota" if r.days_by_daily_quota > 1 else ""
        lines.append(f"  {r.region:<14} {r.requests:>7} requests of {r.requests_per_minute:g}/min, "
                     f"{r.tokens_reserved:>10} tokens of {r.tokens_per_minute:g}/min{daily}")
    price = card.pricing
    on_aws = "" if target == "aws" else " on Amazon Bedrock (the emulator charges nothing)"
    lines.append(f"estimated cost{on_aws}: {est.cost_low:.4f} to {est.cost_high:.4f} {est.currency} "
                 f"({est.input_tokens} input tokens estimated; output from {est.requests} to "
                 f"{est.max_output_tokens} tokens; card prices {price.input_per_1k:g} in / "
                 f"{price.output_per_1k:g} out per 1k tokens)")
    lines.append(f"minimum duration the quotas allow: {_duration(est.min_minutes)} "
                 "(the slowest region; latency and concurrency can only make it longer)")
    return lines
