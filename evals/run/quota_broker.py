"""The Ray side of the shared quota: one named, detached actor that grants reservations to every job.

Each (account, region, model) key gets a requests bucket and a tokens bucket that start full and refill their
per-minute capacity over 60 s, as the service's quotas do. A job's limiter asks for one request of N tokens
(estimated input + maxTokens, reserved at start as the service reserves them; nothing is given back, so the
client stays on the safe side of the service). The broker answers 0 (granted) or how long to wait.

The actor is detached so it outlives the job that first asked for it (jobs are Ray tasks and come and go);
it is named and versioned so every job and concurrent sweeps on the same cluster find the same one, and it
takes no CPU so it never holds a job's slot. Waiting happens in the job, never in the actor.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ray

BROKER_NAME = "bedrock-evals-quota-broker-v1"
NAMESPACE = "bedrock-evals"
POLL_CAP_S = 0.25  # re-ask at least this often, so a stop request is seen promptly


class _Bucket:
    def __init__(self, capacity: float, window_s: float = 60.0) -> None:
        self.capacity = capacity
        self.level = capacity
        self.window_s = window_s
        self.stamp = time.monotonic()

    def refill(self, now: float, capacity: float) -> None:
        self.capacity = capacity  # the latest limits asked for win (a changed quota takes effect at once)
        self.level = min(capacity, self.level + (now - self.stamp) * capacity / self.window_s)
        self.stamp = now

    def shortfall_s(self, amount: float) -> float:
        """Seconds until `amount` fits (an amount above capacity fits once the bucket is full)."""
        need = min(amount, self.capacity)
        return max(0.0, (need - self.level) * self.window_s / self.capacity)


@ray.remote(num_cpus=0, max_restarts=-1)
class QuotaBroker:
    """Grants reservations against per-minute budgets shared by every job of every sweep on the cluster."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[_Bucket, _Bucket]] = {}
        self._counts: dict[str, dict[str, float]] = {}

    def reserve(self, key: str, tokens: int, rpm: float, tpm: float) -> float:
        """0.0 when one request of `tokens` is granted now, else the seconds to wait before asking again."""
        now = time.monotonic()
        requests, token_bucket = self._buckets.setdefault(key, (_Bucket(rpm), _Bucket(tpm)))
        requests.refill(now, rpm)
        token_bucket.refill(now, tpm)
        counts = self._counts.setdefault(key, {"granted": 0, "deferred": 0, "tokens": 0})
        wait = max(requests.shortfall_s(1.0), token_bucket.shortfall_s(tokens))
        if wait > 0:
            counts["deferred"] += 1
            return wait
        requests.level -= 1.0
        token_bucket.level -= min(tokens, token_bucket.capacity)
        counts["granted"] += 1
        counts["tokens"] += tokens
        return 0.0

    def stats(self) -> dict[str, dict[str, float]]:
        return {k: dict(v) for k, v in self._counts.items()}


def broker() -> Any:
    """The cluster's broker, created by the first job that asks for it."""
    return QuotaBroker.options(  # type: ignore[attr-defined]
        name=BROKER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote()


class BrokerLimiter:
    """A job's limiter for one region: asks the broker, waits locally, gives up when the run stops."""

    def __init__(self, name: str, key: str, rpm: float, tpm: float) -> None:
        if name != BROKER_NAME:
            raise ValueError(f"quota broker {name!r} is not this version's ({BROKER_NAME})")
        self.key = key
        self.rpm = rpm
        self.tpm = tpm
        self._handle: Any = None
        self._lock = threading.Lock()
        self._free_at = 0.0  # when the broker last said the budget frees up (monotonic; an estimate)

    def _broker(self) -> Any:
        with self._lock:
            if self._handle is None:
                if not ray.is_initialized():
                    ray.init()  # a run outside a Ray task joins the cluster RAY_ADDRESS names
                self._handle = broker()
            return self._handle

    def resume_in(self, tokens: int) -> float:
        """The last wait the broker announced, still to run: for the wait notice only, costs no call."""
        return max(0.0, self._free_at - time.monotonic())

    def acquire(self, tokens: int, stop: threading.Event | None = None) -> bool:
        handle = self._broker()
        while True:
            wait = float(ray.get(handle.reserve.remote(self.key, tokens, self.rpm, self.tpm)))
            if wait <= 0:
                return True
            self._free_at = time.monotonic() + wait
            if stop is not None and stop.is_set():
                return False
            if stop is not None:
                stop.wait(min(wait, POLL_CAP_S))
            else:
                time.sleep(min(wait, POLL_CAP_S))
