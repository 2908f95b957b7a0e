"""Seeded item generators, by name. Each is `generate(*, seed, **params) -> list[Item]`: same seed, same items."""

from __future__ import annotations

from collections.abc import Callable

from evals.suites.generators import instructions, latency, long_context, reasoning, vision
from evals.suites.items import Item

Generator = Callable[..., list[Item]]

GENERATORS: dict[str, Generator] = {
    "reasoning": reasoning.generate,
    "instructions": instructions.generate,
    "vision": vision.generate,
    "long_context": long_context.generate,
    "latency": latency.generate,
}
