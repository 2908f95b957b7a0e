"""Client-side quota limiter: keeps a run under the card's requests/minute and tokens/minute.

A sliding 60-second window per region, as Bedrock's per-minute quotas count; tokens are reserved as
estimated input plus maxTokens when a request starts, the way the service reserves them. Time spent waiting
here is client-side queueing and shows up in the record's send lag.
"""

from __future__ import annotations

import threading
import time
from collections import deque


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


class RegionLimiters:
    """One limiter per region (quotas are per source region), or none when the run turns limiting off."""

    def __init__(self, regions: list[str], rpm: int, tpm: int, enabled: bool) -> None:
        self._limiters = {r: QuotaLimiter(rpm, tpm) for r in regions} if enabled else {}

    def acquire(self, region: str, tokens: int, stop: threading.Event | None = None) -> bool:
        limiter = self._limiters.get(region)
        return True if limiter is None else limiter.acquire(tokens, stop)
