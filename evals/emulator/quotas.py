"""Per-region, per-model quotas (requests/min, tokens/min, tokens/day) as token buckets.

Tokens per minute and per day reserve input tokens + maxTokens (the card maximum when unset) at request start;
ASSUMPTION: the unused part of the reservation is given back when the request finishes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from evals.cards import ModelCard
from evals.emulator.options import QuotaOverrides
from evals.emulator.wire import BedrockError

MSG_REQUESTS = "Too many requests, please wait before trying again."
MSG_TOKENS = "Too many tokens, please wait before trying again."
MSG_DAILY = "Too many tokens per day, please wait before trying again."


class Bucket:
    """Token bucket: full at start, refills `capacity` per `window_s`."""

    def __init__(self, capacity: float, window_s: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window_s
        self.level = capacity
        self.stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        self._refill(now)
        if self.level >= amount:
            self.level -= amount
            return True
        return False

    def give(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


@dataclass
class _Set:
    requests: Bucket
    tokens: Bucket
    daily: Bucket


class QuotaBook:
    def __init__(self, scale: float, overrides: QuotaOverrides, retry_after_ms: int | None = None) -> None:
        self.scale = scale
        self.overrides = overrides
        self.retry_after_ms = retry_after_ms
        self._lock = threading.Lock()
        self._sets: dict[tuple[str, str], _Set] = {}

    def _limits(self, card: ModelCard) -> tuple[float, float, float]:
        o, q = self.overrides, card.quotas
        rpm = o.requests_per_minute if o.requests_per_minute is not None else q.requests_per_minute
        tpm = o.tokens_per_minute if o.tokens_per_minute is not None else q.tokens_per_minute
        tpd = o.tokens_per_day if o.tokens_per_day is not None else q.tokens_per_day
        return rpm * self.scale, tpm * self.scale, tpd * self.scale

    def _set(self, region: str, card: ModelCard) -> _Set:
        key = (region, card.name)
        found = self._sets.get(key)
        if found is None:
            rpm, tpm, tpd = self._limits(card)
            found = self._sets[key] = _Set(Bucket(rpm, 60.0), Bucket(tpm, 60.0), Bucket(tpd, 86400.0))
        return found

    def _throttle(self, message: str) -> BedrockError:
        headers = {"x-amz-retry-after": str(self.retry_after_ms)} if self.retry_after_ms is not None else {}
        return BedrockError("ThrottlingException", message, headers=headers, kind="quota")

    def reserve(self, region: str, card: ModelCard, tokens: int) -> None:
        """Take one request and `tokens` tokens, or raise ThrottlingException (taking nothing)."""
        now = time.monotonic()
        with self._lock:
            s = self._set(region, card)
            if not s.requests.take(1, now):
                raise self._throttle(MSG_REQUESTS)
            if not s.tokens.take(tokens, now):
                s.requests.give(1)
                raise self._throttle(MSG_TOKENS)
            if not s.daily.take(tokens, now):
                s.requests.give(1)
                s.tokens.give(tokens)
                raise self._throttle(MSG_DAILY)

    def release(self, region: str, card: ModelCard, unused_tokens: int) -> None:
        if unused_tokens <= 0:
            return
        with self._lock:
            s = self._set(region, card)
            s.tokens.give(unused_tokens)
            s.daily.give(unused_tokens)

    def reset(self) -> None:
        with self._lock:
            self._sets.clear()
