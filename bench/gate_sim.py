"""Synthetic closed-loop runs with a known truth, for the gate's A/A and power benchmark.

Vectorised over runs: every run sends the same suite of items (passages of PASSAGE items, the suite's
`cluster`) from `concurrency` workers, each taking the next item of the run's order when its last request
finished (the harness's closed loop: one shared queue, so every worker stays busy until the last send). Latency is
an item effect (output length) times request noise, times a drift of the whole run (an Ornstein-Uhlenbeck
process on log latency: stationary sd `drift_sd`, correlation time `drift_tau_s`), times `slow_factor` inside
one slow period of `slow_s` seconds in a share `slow_share` of the runs. Throttle storms arrive as a Poisson
process (`storm_rate_per_s`, `storm_s` long): a request sent during one is throttled with probability
STORM_THROTTLE per attempt, backs off 1, 2, 4 s and fails after MAX_ATTEMPTS. Answers: each item is right with
a per-item probability (Beta, mostly near 0 or 1: about 4 % of items change answer between runs) and a whole
passage goes wrong in a run with probability PASSAGE_SLIP, the correlation clustered errors come from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PASSAGE = 4
PASSAGE_SLIP = 0.02
STORM_THROTTLE = 0.7
MAX_ATTEMPTS = 4
DT = 0.25  # s, drift grid
BASE_MS = 400.0
MS_PER_TOKEN = 8.0


@dataclass(frozen=True)
class Condition:
    name: str
    drift_sd: float = 0.0
    drift_tau_s: float = 20.0
    slow_factor: float = 1.0
    slow_s: float = 15.0
    slow_share: float = 0.5
    storm_rate_per_s: float = 0.0
    storm_s: float = 20.0


@dataclass(frozen=True)
class Change:
    """What the candidate changes: latency factor, accuracy drop in points (0.10 = 10 points)."""

    latency: float = 1.0
    accuracy_drop: float = 0.0


@dataclass(frozen=True)
class Suite:
    """The items every run sends: per-item latency factor, answer length and chance of a right answer."""

    items: int
    seed: int = 7
    tokens: np.ndarray = field(init=False, repr=False)
    p_right: np.ndarray = field(init=False, repr=False)
    rank: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        object.__setattr__(self, "tokens", np.maximum(8, np.round(150 * np.exp(rng.normal(0, 0.3, self.items)))))
        object.__setattr__(self, "p_right", rng.beta(0.1, 0.025, self.items))
        object.__setattr__(self, "rank", rng.permutation(self.items))  # which items a regression breaks first

    @property
    def clusters(self) -> np.ndarray:
        return np.arange(self.items) // PASSAGE


@dataclass
class Runs:
    """Arrays of shape (runs, items), indexed by item (not by send order)."""

    t_sent: np.ndarray
    t_done: np.ndarray
    ok: np.ndarray
    throttles: np.ndarray
    output_tokens: np.ndarray
    right: np.ndarray
    slow_run: np.ndarray  # (runs,) whether the run had a slow period


def _drift(rng: np.random.Generator, cond: Condition, runs: int, steps: int) -> np.ndarray:
    """log-latency drift on the DT grid, stationary OU per run."""
    if cond.drift_sd == 0:
        return np.zeros((runs, steps))
    phi = math.exp(-DT / cond.drift_tau_s)
    eps = rng.normal(0, cond.drift_sd * math.sqrt(1 - phi**2), (runs, steps))
    eps[:, 0] = rng.normal(0, cond.drift_sd, runs)
    out = np.empty((runs, steps))
    out[:, 0] = eps[:, 0]
    for j in range(1, steps):
        out[:, j] = phi * out[:, j - 1] + eps[:, j]
    return out


def _storms(rng: np.random.Generator, cond: Condition, runs: int, horizon: float) -> np.ndarray:
    """Storm start times, (runs, most storms in a run), NaN-padded."""
    counts = rng.poisson(cond.storm_rate_per_s * (horizon + cond.storm_s), runs)
    starts = rng.uniform(-cond.storm_s, horizon, (runs, max(1, int(counts.max()))))
    return np.where(np.arange(starts.shape[1]) < counts[:, None], starts, np.nan)


def simulate(suite: Suite, cond: Condition, change: Change, runs: int, concurrency: int, seed: int,
             order_seed: int | None = None, run_factor: np.ndarray | None = None) -> Runs:
    """`runs` independent runs of the suite; `order_seed` fixes the send order (same emulator/plan seed);
    `run_factor` (runs,) scales each run's latency (the weather of the stretch of the day it ran in)."""
    rng = np.random.default_rng(seed)
    n, c = suite.items, concurrency
    per_worker = math.ceil(n / c)
    horizon = per_worker * (BASE_MS + MS_PER_TOKEN * 150) / 1000 * 4 * change.latency * max(1, cond.slow_factor)
    steps = int(horizon / DT) + 2
    drift = _drift(rng, cond, runs, steps)
    slow_run = rng.random(runs) < cond.slow_share
    slow_start = rng.uniform(0, horizon / 4, runs)  # a run lasts about horizon / 4
    storms = _storms(rng, cond, runs, horizon / 4) if cond.storm_rate_per_s > 0 else None
    order_rng = np.random.default_rng(order_seed) if order_seed is not None else rng
    orders = np.stack([order_rng.permutation(n) for _ in range(runs)])
    tokens = np.maximum(1, np.round(suite.tokens * np.exp(rng.normal(0, 0.1, (runs, n)))))
    noise = np.exp(rng.normal(0, 0.3, (runs, n)))
    t_sent, t_done = np.zeros((runs, n)), np.zeros((runs, n))
    ok, thr = np.ones((runs, n), bool), np.zeros((runs, n), int)
    clock = np.tile(np.arange(c) * 0.05, (runs, 1))  # staggered starts
    ridx = np.arange(runs)
    for j in range(n):  # like the harness's closed loop: the first worker free takes the next item
        worker = np.argmin(clock, axis=1)
        items = orders[:, j]
        now = clock[ridx, worker]
        step = np.clip((now / DT).astype(int), 0, steps - 1)
        factor = np.exp(drift[ridx, step]) * change.latency * (1.0 if run_factor is None else run_factor)
        slow = slow_run & (now >= slow_start) & (now < slow_start + cond.slow_s)
        factor = factor * np.where(slow, cond.slow_factor, 1.0)
        lat = (BASE_MS + MS_PER_TOKEN * tokens[ridx, items]) * noise[ridx, items] * factor / 1000
        n_thr = np.zeros(runs, int)
        if storms is not None:
            in_storm = ((storms <= now[:, None]) & (now[:, None] < storms + cond.storm_s)).any(axis=1)
            n_thr = np.where(in_storm, np.minimum(rng.geometric(1 - STORM_THROTTLE, runs) - 1, MAX_ATTEMPTS), 0)
        backoff = np.where(n_thr > 0, 2.0 ** np.minimum(n_thr, MAX_ATTEMPTS - 1) - 1, 0.0)
        failed = n_thr >= MAX_ATTEMPTS
        lat = np.where(failed, backoff + 0.05, lat + backoff)
        t_sent[ridx, items] = now
        t_done[ridx, items] = now + lat
        ok[ridx, items] = ~failed
        thr[ridx, items] = n_thr
        clock[ridx, worker] = now + lat + 0.002
    right = _answers(rng, suite, change, runs)
    return Runs(t_sent, t_done, ok, thr, tokens, right & ok, slow_run)


def _answers(rng: np.random.Generator, suite: Suite, change: Change, runs: int) -> np.ndarray:
    n = suite.items
    right = rng.random((runs, n)) < suite.p_right
    slips = rng.random((runs, n // PASSAGE + 1)) < PASSAGE_SLIP
    right &= ~slips[:, suite.clusters]
    if change.accuracy_drop > 0:
        # break the items that are right most often first, until the expected accuracy fell by the drop
        by_rank = np.argsort(suite.rank)
        cum = np.cumsum(suite.p_right[by_rank] * (1 - PASSAGE_SLIP)) / n
        broken = by_rank[: int(np.searchsorted(cum, change.accuracy_drop)) + 1]
        right[:, broken] = False
    return right


def truth(suite: Suite, cond: Condition, runs: int = 400, concurrency: int = 8, seed: int = 99
          ) -> dict[str, float]:
    """The figures every run estimates, by Monte Carlo over many runs: p50/p90 of successful latency and the
    mean steady throughput (output tokens/s)."""
    r = simulate(suite, cond, Change(), runs, concurrency, seed)
    lat = (r.t_done - r.t_sent)[r.ok] * 1000
    tps = [window_tokens_per_s(r.t_sent[i], r.t_done[i], r.output_tokens[i] * r.ok[i]) for i in range(runs)]
    return {"p50": float(np.quantile(lat, 0.5)), "p90": float(np.quantile(lat, 0.9)),
            "tokens_per_s": float(np.mean(tps))}


def window_tokens_per_s(sent: np.ndarray, done: np.ndarray, tokens: np.ndarray) -> float:
    """Output tokens completed between the first and the last send, per second."""
    start, end = float(sent.min()), float(sent.max())
    inside = (done >= start) & (done < end)
    return float(tokens[inside].sum()) / (end - start)


MODEL = "us.meta.llama4-maverick-17b-instruct-v1:0"
CELL = {"suite": "synthetic", "region": "us-east-1", "api": "converse", "tier": "default"}


def records(runs: Runs, i: int, run_id: str, suite: Suite) -> list[dict[str, object]]:
    """Run `i` as the records the harness writes (the fields the gate and the report read), in send order."""
    out = []
    for j in np.argsort(runs.t_sent[i], kind="stable"):
        ok = bool(runs.ok[i, j])
        thr = int(runs.throttles[i, j])
        sent, done = float(runs.t_sent[i, j]) * 1000, float(runs.t_done[i, j]) * 1000
        tokens = int(runs.output_tokens[i, j])
        out.append({
            **CELL, "run_id": run_id, "request_id": f"{run_id}-{j}", "sample_id": f"item-{j}",
            "cluster": f"passage-{suite.clusters[j]}", "model_id": MODEL, "repeat": 0, "warmup": False,
            "status": "ok" if ok else "error", "error_code": None if ok else "ThrottlingException",
            "attempts": min(thr + 1, MAX_ATTEMPTS), "throttles": thr,
            "t_sent_ms": round(sent, 3), "t_done_ms": round(done, 3), "latency_ms": round(done - sent, 3),
            "ttft_ms": None, "input_tokens": 300, "output_tokens": tokens if ok else None,
            "score": (1.0 if runs.right[i, j] else 0.0) if ok else None,
            "cost_usd": round((300 * 0.24 + tokens * 0.97) / 1e6, 9) if ok else None,
        })
    return out


def write_run(out: Path, run_id: str, recs: list[dict[str, object]]) -> Path:
    """A finished run directory, written by the harness's own RunDirectory and RecordWriter."""
    from evals.results.rundir import RecordWriter, RunDirectory

    run_dir = RunDirectory.create(out, run_id)
    run_dir.write_run({"run_id": run_id, "status": "completed", "model": {"model_id": MODEL},
                       "target": {"kind": "aws", "emulator": False},
                       "suites": [{"name": CELL["suite"], "version": "1"}]})
    writer = RecordWriter(run_dir.records_file)
    for rec in recs:
        writer.write(rec)
    writer.close()
    return run_dir.path
