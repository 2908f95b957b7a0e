"""Counters the admin endpoint serves: requests per operation and region, attempts, throttles, faults, auth."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict, deque
from typing import Any

_ATTEMPT = re.compile(r"attempt=(\d+)")
LATENESS_SAMPLES = 200_000  # the most recent answers kept for lateness percentiles


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
            self.protocols: Counter[str] = Counter()
            self.throttles = 0
            self.busy_s = 0.0
            self.finished = 0
            self.auth_failures = 0
            self.total = 0
            self.late_s: deque[float] = deque(maxlen=LATENESS_SAMPLES)

    def count_request(self, operation: str, region: str, sdk_request: str | None, protocol: str = "HTTP/1.1") -> int:
        """Count one arriving request; returns its sequence number (seeds fault draws)."""
        match = _ATTEMPT.search(sdk_request or "")
        with self._lock:
            self.total += 1
            self.protocols[protocol] += 1
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

    def count_lateness(self, late_s: float) -> None:
        """How long after its planned time an answer (or a stream's first token) was written."""
        with self._lock:
            self.late_s.append(late_s)

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
                "protocols": dict(self.protocols),
                "auth_failures": self.auth_failures,
                "server_us_mean": self.busy_s / self.finished * 1e6 if self.finished else 0.0,
                "first_write_late_ms": _percentiles_ms(list(self.late_s)),
            }


def _percentiles_ms(values_s: list[float]) -> dict[str, float | int]:
    """Nearest-rank p50/p99/max in ms (stdlib only: the emulator starts without numpy)."""
    if not values_s:
        return {"n": 0}
    ordered = sorted(values_s)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000

    return {"n": len(ordered), "p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1] * 1000}
