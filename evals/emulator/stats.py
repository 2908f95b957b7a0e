"""Counters the admin endpoint serves: requests per operation and region, attempts, throttles, faults, auth."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from typing import Any

_ATTEMPT = re.compile(r"attempt=(\d+)")


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: dict[str, Counter[str]] = defaultdict(Counter)
            self.attempts: Counter[str] = Counter()
            self.statuses: Counter[str] = Counter()
            self.errors: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.auth: Counter[str] = Counter()
            self.throttles = 0
            self.busy_s = 0.0
            self.finished = 0
            self.auth_failures = 0
            self.total = 0

    def count_request(self, operation: str, region: str, sdk_request: str | None) -> int:
        """Count one arriving request; returns its sequence number (seeds fault draws)."""
        match = _ATTEMPT.search(sdk_request or "")
        with self._lock:
            self.total += 1
            self.requests[operation][region] += 1
            self.attempts[match.group(1) if match else "unknown"] += 1
            return self.total

    def count_auth(self, kind: str) -> None:
        with self._lock:
            self.auth[kind] += 1

    def count_result(self, status: int, code: str | None, kind: str | None, busy_s: float = 0.0) -> None:
        """Count a finished request; `busy_s` is server time minus injected waits (to show emulator cost)."""
        with self._lock:
            self.finished += 1
            self.busy_s += busy_s
            self.statuses[str(status)] += 1
            if code:
                self.errors[code] += 1
            if code == "ThrottlingException":
                self.throttles += 1
            if kind == "auth":
                self.auth_failures += 1

    def count_faults(self, names: list[str]) -> None:
        with self._lock:
            for name in names:
                self.faults[name] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": self.total,
                "requests": {op: dict(regions) for op, regions in self.requests.items()},
                "attempts": dict(self.attempts),
                "statuses": dict(self.statuses),
                "errors": dict(self.errors),
                "throttles": self.throttles,
                "faults_injected": dict(self.faults),
                "faults_total": sum(self.faults.values()),
                "auth": dict(self.auth),
                "auth_failures": self.auth_failures,
                "server_us_mean": self.busy_s / self.finished * 1e6 if self.finished else 0.0,
            }
