"""One quota for all the jobs of a sweep: which budget each job's client-side limiter draws from.

Bedrock's requests/minute and tokens/minute quotas belong to an account, a region and a model, not to a process.
A sweep whose jobs each assume the whole quota asks for N times it and measures its own throttles, so:
- `ray`: jobs on a Ray cluster draw reservations from one named broker actor per (account, region, model);
- `divided`: with the basic or joblib launcher each job keeps 1/k of the quota, k being the number of jobs
  sharing that key that can run at once (the launcher's parallelism, capped by the number of such jobs);
- `whole`: a single run, or `transport.quota_share=off`, or a job with an emulator of its own.
The share a job had is written into its run.json (`quota`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.cards import ModelCard
from evals.errors import UserInputError
from evals.run.limiter import Limiter, QuotaLimiter, RegionLimiters

MODES = ("auto", "off")
# The broker refills like the service's own buckets, so it plans at 95% of the quota: a grant reaches the service
# a few milliseconds later, and a job's first request (new connections) later still than the rest; at 100% that
# skew alone throttles the request granted the moment the budget refills. 5% covers ~3 s of skew at any quota.
BROKER_HEADROOM = 0.95


@dataclass(frozen=True)
class QuotaShare:
    """What one job may use: per region, the budget key it shares and the fraction of the quota it keeps."""

    mode: str  # whole | divided | ray
    keys: Mapping[str, str | None] = field(default_factory=dict)  # region -> budget key (None: not shared)
    fractions: Mapping[str, float] = field(default_factory=dict)  # region -> share of the quota (divided)
    parallel_jobs: int = 1  # jobs the launcher runs at once (divided)
    broker: str | None = None  # the Ray actor's name (ray)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "keys": dict(self.keys), "fractions": dict(self.fractions),
                "parallel_jobs": self.parallel_jobs, "broker": self.broker}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuotaShare:
        return cls(mode=str(data["mode"]), keys=dict(data.get("keys") or {}),
                   fractions={k: float(v) for k, v in (data.get("fractions") or {}).items()},
                   parallel_jobs=int(data.get("parallel_jobs", 1)), broker=data.get("broker"))


def check_mode(value: str) -> None:
    if value not in MODES:
        raise UserInputError(f"transport.quota_share: must be auto or off, got {value!r}")


def account_of(target: Mapping[str, Any]) -> str | None:
    """Who owns the quota: an emulator the jobs share (its endpoints file), or the AWS credentials' source.

    A job that starts its own emulator shares nothing (None). For AWS, jobs launched from one sweep use one
    credentials chain, named by AWS_PROFILE; the account id itself would cost an STS call per job.
    """
    if target.get("kind") == "local":
        endpoints_file = target.get("endpoints_file")
        return f"emulator:{os.path.realpath(endpoints_file)}" if endpoints_file else None
    return f"aws:{os.environ.get('AWS_PROFILE') or 'default-chain'}"


def budget_keys(target: Mapping[str, Any], card: ModelCard, regions: Sequence[str]) -> dict[str, str | None]:
    account = account_of(target)
    return {r: (f"{account}|{r}|{card.model_id}" if account else None) for r in regions}


def divide(job_keys: Sequence[Mapping[str, str | None]], parallel_jobs: int) -> list[QuotaShare]:
    """Each job's share when the launcher runs `parallel_jobs` at once: 1/min(parallel, jobs on the same key)."""
    counts = Counter(k for keys in job_keys for k in set(keys.values()) if k is not None)
    shares = []
    for keys in job_keys:
        fractions = {r: 1.0 / max(1, min(parallel_jobs, counts[k])) if k else 1.0 for r, k in keys.items()}
        shares.append(QuotaShare("divided", keys, fractions, parallel_jobs))
    return shares


def quota_scale(target: Mapping[str, Any], endpoints: Mapping[str, Any] | None) -> float:
    """The emulator scales the card's quotas; the client must plan with the same numbers (AWS: 1)."""
    if target.get("kind") != "local":
        return 1.0
    if endpoints and endpoints.get("quota_scale") is not None:
        return float(endpoints["quota_scale"])  # an emulator started elsewhere states its own scale
    return float(target.get("quota_scale", 1.0))


@dataclass(frozen=True)
class RegionLimits:
    requests_per_minute: float
    tokens_per_minute: float


class QuotaGate(RegionLimiters):
    """The runner's limiter: one budget per region, local or drawn from the sweep's broker."""

    def __init__(self, limiters: Mapping[str, Limiter], share: QuotaShare,
                 limits: Mapping[str, RegionLimits]) -> None:
        super().__init__(limiters)
        self.share = share
        self.limits = dict(limits)

    def describe(self) -> dict[str, Any]:
        """The run.json `quota` block: the share this job had and the per-minute limits it planned with."""
        out = self.share.to_dict()
        out["enabled"] = bool(self._limiters)
        out["limits"] = {r: {"requests_per_minute": round(v.requests_per_minute, 3),
                             "tokens_per_minute": round(v.tokens_per_minute, 3)} for r, v in self.limits.items()}
        return out


def make_gate(target: Mapping[str, Any], card: ModelCard, regions: Sequence[str], enabled: bool,
              endpoints: Mapping[str, Any] | None, share: QuotaShare | None = None) -> QuotaGate:
    """Limiters for a run: the card's quotas x the emulator's scale, times this job's share."""
    share = share or QuotaShare("whole", budget_keys(target, card, regions), {r: 1.0 for r in regions})
    scale = quota_scale(target, endpoints)
    limits = {}
    for region in regions:
        fraction = share.fractions.get(region, 1.0) if share.mode == "divided" else 1.0
        if share.mode == "ray" and share.keys.get(region):
            fraction = BROKER_HEADROOM
        limits[region] = RegionLimits(card.quotas.requests_per_minute * scale * fraction,
                                      card.quotas.tokens_per_minute * scale * fraction)
    if not enabled:
        return QuotaGate({}, share, limits)
    limiters: dict[str, Limiter] = {}
    for region, lim in limits.items():
        key = share.keys.get(region)
        if share.mode == "ray" and key:
            from evals.run.quota_broker import BrokerLimiter  # imported only on Ray: it imports ray

            limiters[region] = BrokerLimiter(str(share.broker), key, lim.requests_per_minute, lim.tokens_per_minute)
        else:
            limiters[region] = QuotaLimiter(max(1, int(lim.requests_per_minute)), max(1, int(lim.tokens_per_minute)))
    return QuotaGate(limiters, share, limits)
