"""Load strategies: when each request is meant to be sent.

Open-loop strategies are pure functions of the request index and the seed, never of completions, so a slow
service shows up as send lag instead of silently lowering the offered load (coordinated omission).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evals.errors import UserInputError


@dataclass(frozen=True)
class ClosedLoop:
    """Keep `concurrency` requests in flight; a request is intended the moment a slot frees.

    With `ramp_s`, worker k starts at k x ramp_s / concurrency. Workers started together stay in lock-step on a
    service with near-constant latency, and each lock-step burst of completions queues in the client, inflating
    the latencies it measures; staggered starts keep them apart (and keep a run from opening with a burst).
    """

    concurrency: int
    ramp_s: float = 0.0
    open_loop = False

    def intended_offset_s(self, index: int) -> float | None:
        return None

    def worker_start_s(self, worker: int) -> float:
        return worker * self.ramp_s / self.concurrency


@dataclass(frozen=True)
class ConstantRate:
    rate: float
    open_loop = True

    def intended_offset_s(self, index: int) -> float:
        return index / self.rate


@dataclass(frozen=True)
class PoissonRate:
    """Exponential gaps drawn from a seeded generator; offsets are precomputed so lookup is O(1)."""

    rate: float
    seed: int
    count: int
    open_loop = True
    _offsets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0x5EED])
        gaps = rng.exponential(1.0 / self.rate, size=max(self.count, 1))
        gaps[0] = 0.0  # the first request is due at the start
        object.__setattr__(self, "_offsets", np.cumsum(gaps))

    def intended_offset_s(self, index: int) -> float:
        return float(self._offsets[index])


Strategy = ClosedLoop | ConstantRate | PoissonRate


def make_strategy(
    kind: str, *, concurrency: int, rate: float | None, seed: int, count: int, ramp_s: float = 0.0
) -> Strategy:
    """Build one strategy; `kind` is closed | constant | poisson (a sweep builds one per level)."""
    if ramp_s < 0:
        raise UserInputError(f"load.ramp_s: must be >= 0 seconds, got {ramp_s}")
    if kind == "closed":
        if concurrency < 1:
            raise UserInputError(f"load.concurrency: must be >= 1, got {concurrency}")
        return ClosedLoop(concurrency, ramp_s)
    if ramp_s:
        raise UserInputError(f"load.ramp_s: staggers closed-loop workers only; strategy {kind!r} sends on a schedule")
    if kind in ("constant", "poisson"):
        if rate is None or rate <= 0:
            raise UserInputError(f"load.rate: open-loop strategy {kind!r} needs a rate > 0 (requests/s)")
        return ConstantRate(rate) if kind == "constant" else PoissonRate(rate, seed, count)
    raise UserInputError(f"load.strategy: unknown strategy {kind!r} (closed, constant, poisson, sweep)")
