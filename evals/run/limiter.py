"""Client-side quota limiter: keeps a run under the card's requests/minute and tokens/minute.

A sliding 60-second window per region, as Bedrock's per-minute quotas count; tokens are reserved as
estimated input plus maxTokens when a request starts, the way the service reserves them. Time spent waiting
here is client-side queueing and shows up in the record's send lag.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Protocol


class QuotaLimiter:
    def __init__(self, requests_per_minute: int, tokens_per_minute: int, window_s: float = 60.0) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._tokens_in_window = 0
        self._cond = threading.Condition()

    def _prune(self, now: float) -> None:
        while self._events and now - self._events[0][0] >= self.window_s:
            self._tokens_in_window -= self._events.popleft()[1]

    def resume_in(self, tokens: int) -> float:
        """Seconds until one request of `tokens` would fit the window (0 when it fits now): for the progress
        display, which says how long a quota wait will last."""
        with self._cond:
            now = time.monotonic()
            self._prune(now)
            freed_tokens = self._tokens_in_window
            for i, (_sent, tok) in enumerate(self._events):
                fits_requests = len(self._events) - i < self.rpm
                fits_tokens = freed_tokens + tokens <= self.tpm or i == len(self._events)
                if fits_requests and fits_tokens:
                    return 0.0 if i == 0 else max(0.0, self.window_s - (now - self._events[i - 1][0]))
                freed_tokens -= tok
            return max(0.0, self.window_s - (now - self._events[-1][0])) if self._events else 0.0

    def acquire(self, tokens: int, stop: threading.Event | None = None) -> bool:
        """Block until one request of `tokens` fits the window; False if `stop` was set while waiting."""
        with self._cond:
            while True:
                now = time.monotonic()
                self._prune(now)
                fits_requests = len(self._events) < self.rpm
                fits_tokens = self._tokens_in_window + tokens <= self.tpm or not self._events
                if fits_requests and fits_tokens:
                    self._events.append((now, tokens))
                    self._tokens_in_window += tokens
                    return True
                if stop is not None and stop.is_set():
                    return False
                wait = self.window_s - (now - self._events[0][0])
                self._cond.wait(timeout=min(max(wait, 0.001), 0.5))


class Limiter(Protocol):
    """One region's budget: a local QuotaLimiter, or a share drawn from a sweep's broker."""

    def resume_in(self, tokens: int) -> float: ...

    def acquire(self, tokens: int, stop: threading.Event | None = None) -> bool: ...


class RegionLimiters:
    """One limiter per region (quotas are per source region); a region without one is not limited."""

    def __init__(self, limiters: Mapping[str, Limiter]) -> None:
        self._limiters = dict(limiters)

    @classmethod
    def uniform(cls, regions: list[str], rpm: int, tpm: int, enabled: bool) -> RegionLimiters:
        """The same local quota in every region, or no limiting at all."""
        return cls({r: QuotaLimiter(rpm, tpm) for r in regions} if enabled else {})

    def resume_in(self, region: str, tokens: int) -> float:
        """Seconds until a request would pass `acquire` (0: now, or no limiter for the region)."""
        limiter = self._limiters.get(region)
        return 0.0 if limiter is None else limiter.resume_in(tokens)

    def acquire(self, region: str, tokens: int, stop: threading.Event | None = None) -> bool:
        limiter = self._limiters.get(region)
        return True if limiter is None else limiter.acquire(tokens, stop)
