"""Budget caps (total tokens, estimated cost): a run stops cleanly before a request could pass a cap.

Each request reserves its worst case (estimated input + maxTokens) when it starts and settles to the
service's reported usage when it ends, so concurrent requests cannot overshoot the cap together.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from evals.cards import Pricing
from evals.types import Sample

# Client-side estimate used only for reservations (quota limiter, budget); never reported as a token count.
CHARS_PER_TOKEN_ESTIMATE = 3.0
IMAGE_TILE_PX = 336
TOKENS_PER_IMAGE_TILE = 144


def estimate_input_tokens(sample: Sample) -> int:
    """A deliberately generous estimate: reservations should err on the side of not throttling."""
    chars = len(sample.prompt) + len(sample.system or "")
    tiles = sum(
        math.ceil(img.width / IMAGE_TILE_PX) * math.ceil(img.height / IMAGE_TILE_PX) + 1 for img in sample.images
    )
    return math.ceil(chars / CHARS_PER_TOKEN_ESTIMATE) + tiles * TOKENS_PER_IMAGE_TILE + 16


@dataclass
class BudgetState:
    tokens_used: int = 0
    cost_used: float = 0.0
    tokens_reserved: int = 0
    cost_reserved: float = 0.0


class Budget:
    def __init__(self, pricing: Pricing, max_tokens_total: int | None, max_cost_usd: float | None,
                 spent: tuple[int, float] = (0, 0.0)) -> None:
        """`spent`: tokens and cost of earlier sessions of the same run, so caps hold across resumes."""
        self.pricing = pricing
        self.max_tokens_total = max_tokens_total
        self.max_cost_usd = max_cost_usd
        self.state = BudgetState(tokens_used=spent[0], cost_used=spent[1])
        self.exhausted_reason: str | None = None
        self._lock = threading.Lock()

    def reserve(self, input_tokens: int, max_tokens: int) -> tuple[int, float] | None:
        """Reserve a request's worst case; None (and a reason) when it could pass a cap."""
        tokens = input_tokens + max_tokens
        cost = self.pricing.cost(input_tokens, max_tokens)
        with self._lock:
            s = self.state
            if self.max_tokens_total is not None and s.tokens_used + s.tokens_reserved + tokens > self.max_tokens_total:
                self.exhausted_reason = f"run.max_tokens_total={self.max_tokens_total} would be passed"
                return None
            if self.max_cost_usd is not None and s.cost_used + s.cost_reserved + cost > self.max_cost_usd:
                self.exhausted_reason = f"run.max_cost_usd={self.max_cost_usd} would be passed"
                return None
            s.tokens_reserved += tokens
            s.cost_reserved += cost
            return tokens, cost

    def settle(self, reservation: tuple[int, float], input_tokens: int | None, output_tokens: int | None) -> None:
        """Replace the reservation by the service's usage; a count the service did not report is charged at
        the reserved worst case, so missing counts can never let a run slip past its cap."""
        with self._lock:
            s = self.state
            s.tokens_reserved -= reservation[0]
            s.cost_reserved -= reservation[1]
            if input_tokens is None or output_tokens is None:
                s.tokens_used += reservation[0]
                s.cost_used += reservation[1]
                return
            s.tokens_used += input_tokens + output_tokens
            s.cost_used += self.pricing.cost(input_tokens, output_tokens)
