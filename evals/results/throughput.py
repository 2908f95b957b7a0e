"""Throughput of a set of records over its steady windows, one window per run and session, laid end to end:
the one-arm rate figures (successful requests/s, output tokens/s) with their intervals and Little's-law check.

The rates and their batch-means intervals are `evals.stats.throughput`'s; this module only chooses the windows
(MSER-5 warm-up cut, drain tail cut, a full-span fallback for windows too short), which completions count, and
with several runs a run-level interval (`evals.stats.dependent.run_level_interval`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evals.results.summaries import run_rank
from evals.results.table import RecordTable
from evals.stats import Interval, littles_law_check, mean_in_flight, steady_window, throughput_interval
from evals.stats.dependent import MIN_RUNS, run_level_interval
from evals.stats.results import NAN
from evals.stats.throughput import LittleCheck, Window, window_throughput

MIN_WINDOW_LATENCIES = 10  # a steady window shorter than this many mean latencies falls back to the full span


def sessions(table: RecordTable, rows: np.ndarray | None = None) -> list[np.ndarray]:
    """Rows (of `rows`, default all) per (run, session), in (run id, session) order, each in table order: each
    session of a resumed run is its own stretch of load, so it gets its own steady window (the downtime between
    sessions is in none)."""
    rows = np.arange(len(table)) if rows is None else rows
    if rows.size == 0:
        return []
    session = np.maximum(np.nan_to_num(table.num("session")[rows]).astype(np.int64), 0)
    key = (run_rank(table)[rows] + 1) * (int(session.max()) + 1) + session  # sorts as (run id, session)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return [rows[part] for part in np.split(order, starts[1:])]


def _seconds(table: RecordTable, field: str, rows: np.ndarray) -> np.ndarray:
    v = table.num(field)[rows]
    return v[~np.isnan(v)] / 1000.0


def window_of(table: RecordTable, rows: np.ndarray) -> Window | None:
    sent, done = _seconds(table, "t_sent_ms", rows), _seconds(table, "t_done_ms", rows)
    if sent.size == 0 or done.size == 0:
        return None
    window = steady_window(sent, done)
    return window if window.seconds > 0 else None


def steady_start_s(table: RecordTable, rows: np.ndarray) -> float | None:
    """Start of the steady window of one session's rows (seconds on the run clock), for shading plots."""
    window = window_of(table, rows)
    return window.start if window is not None else None


def _span(table: RecordTable, rows: np.ndarray) -> Window | None:
    """First send to last completion: start-up and drain included (for a closed loop they nearly cancel)."""
    sent, done = _seconds(table, "t_sent_ms", rows), _seconds(table, "t_done_ms", rows)
    if sent.size == 0 or done.size == 0 or done.max() <= sent.min():
        return None
    return Window(float(sent.min()), float(done.max()), "full span")


def _laid_end_to_end(table: RecordTable, parts: Sequence[np.ndarray], windows: Sequence[Window | None],
                     closed_end: bool = False) -> tuple[float, list[str], dict[str, np.ndarray]]:
    """Each session's records shifted so its window starts where the previous one ended; only what lies in a
    session's own window counts (its warm-up and drain would otherwise land in its neighbours' windows).

    Returns (summed length, each window's method, arrays: every request's sent and end clipped to its window,
    the latency of every completion in its window, ok completions in their window and their output tokens).
    `closed_end`: a completion at the window's end counts (a full span ends at the last completion)."""
    out: dict[str, list[np.ndarray]] = {"sent": [], "end": [], "latency": [], "ok_done": [], "tokens": []}
    offset = 0.0
    methods = []
    sent_all, done_all, tokens_all = table.num("t_sent_ms"), table.num("t_done_ms"), table.num("output_tokens")
    for rows, window in zip(parts, windows, strict=True):
        if window is None:
            continue
        methods.append(window.warmup_method)
        timed = rows[~np.isnan(sent_all[rows]) & ~np.isnan(done_all[rows])]
        sent, done = sent_all[timed] / 1000.0, done_all[timed] / 1000.0
        inside = (done >= window.start) & ((done <= window.end) if closed_end else (done < window.end))
        ok = inside & table.ok[timed]
        shift = offset - window.start
        out["sent"].append(np.clip(sent, window.start, window.end) + shift)
        out["end"].append(np.clip(done, window.start, window.end) + shift)
        out["latency"].append(done[inside] - sent[inside])
        out["ok_done"].append(done[ok] + shift)
        out["tokens"].append(np.nan_to_num(tokens_all[timed[ok]]))
        offset += window.seconds
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
    return offset, methods, arrays


def per_run_rates(table: RecordTable, parts: Sequence[np.ndarray], windows: Sequence[Window | None]
                  ) -> list[tuple[float, float]]:
    """(output tokens/s, successful requests/s) of each run over its own steady windows (its sessions laid end
    to end), in run order; runs without a steady window are left out."""
    rank = run_rank(table)
    by_run: dict[int, list[tuple[np.ndarray, Window | None]]] = {}
    for rows, window in zip(parts, windows, strict=True):
        if rows.size:
            by_run.setdefault(int(rank[rows[0]]), []).append((rows, window))
    rates = []
    for run in sorted(by_run):
        rows_of, windows_of = zip(*by_run[run], strict=True)
        seconds, _, a = _laid_end_to_end(table, rows_of, windows_of)
        if seconds > 0:
            rate = window_throughput(a["ok_done"], a["tokens"], 0.0, seconds)
            rates.append((rate.output_tokens_per_s, rate.requests_per_s))
    return rates


def _run_level_or(within: Interval, per_run: Sequence[float]) -> Interval:
    """The run-level interval of a pooled rate (log scale: drift scales a rate), or `within` when unavailable."""
    iv = run_level_interval(per_run, within.estimate, within.confidence, log=True)
    return iv if iv.available else within


@dataclass(frozen=True)
class Throughput:
    """Rates over the steady windows laid end to end; `note` says why when unavailable (then nothing else is
    set) and how the windows were chosen otherwise."""

    available: bool
    note: str
    windows: int = 0
    seconds: float = 0.0
    warmup_method: str = ""
    requests_per_s: Interval | None = None
    output_tokens_per_s: Interval | None = None
    little: LittleCheck | None = None


def throughput(table: RecordTable, parts: Sequence[np.ndarray], replicates: bool = True) -> Throughput:
    """Output tokens/s and successful requests/s over the steady windows, with batch-means intervals.

    Every run and every session of a resumed run (`sessions`) has its own steady window (warm-up and drain
    tail cut). The windows are laid end to end: the rate is the completions in all steady windows over their
    summed length, so the downtime between sessions (or runs) never counts. Little's law is checked on every
    completion (errors too) inside the windows. Batches span at least one mean latency (see
    `throughput_interval`). With MIN_RUNS or more runs that are `replicates` (one configuration, not a sweep's
    loads) the intervals come from the spread of the per-run rates instead (run level), which holds drift between
    runs and slower than one run. When the steady windows
    together span fewer than 10 mean latencies (a short sweep level: at concurrency 64 with 64 requests all are
    sent at once and the window before the last send holds no completion), each session's full span is used
    instead, with no interval.
    """
    lat = table.num("latency_ms")
    lat = lat[~np.isnan(lat)]
    cycle = float(lat.mean()) / 1000.0 if lat.size else 0.0
    windows = [window_of(table, rows) for rows in parts]
    steady_s = sum(w.seconds for w in windows if w is not None)
    fallback = steady_s < MIN_WINDOW_LATENCIES * cycle
    if fallback:
        windows = [_span(table, rows) for rows in parts]
    seconds, methods, a = _laid_end_to_end(table, parts, windows, closed_end=fallback)
    if seconds <= 0:
        return Throughput(False, "no steady window: requests were all sent at once or none finished")
    window = Window(0.0, seconds, "+".join(sorted(set(methods))))
    notes = []
    if len(methods) > 1:
        notes.append(f"{len(methods)} windows (one per run and session) laid end to end: completions in them "
                     "over their summed length")
    if fallback:
        notes.append(f"steady window {steady_s:.1f} s is under {MIN_WINDOW_LATENCIES} mean latencies: rate over "
                     "the full span, first send to last completion (start-up and drain included), no interval")
        n_ok, tokens = int(a["ok_done"].size), float(a["tokens"].sum())
        short = "full span (too short for a steady window): no interval"
        rps = Interval(n_ok / seconds, NAN, NAN, "full span", n_ok, 0.95, False, short)
        tps = Interval(tokens / seconds, NAN, NAN, "full span", n_ok, 0.95, False, short)
    else:
        tp = throughput_interval(a["ok_done"], a["tokens"], window, min_batch_s=cycle)
        rps, tps = tp.requests_per_s, tp.output_tokens_per_s
        per_run = per_run_rates(table, parts, windows) if replicates else []
        if len(per_run) >= MIN_RUNS:
            notes.append(f"intervals from the spread of {len(per_run)} runs' rates (run level)")
            tps = _run_level_or(tps, [t for t, _ in per_run])
            rps = _run_level_or(rps, [r for _, r in per_run])
    latency = float(a["latency"].mean()) if a["latency"].size else 0.0
    little = littles_law_check(mean_in_flight(a["sent"], a["end"], 0.0, seconds), a["latency"].size / seconds,
                               latency)
    return Throughput(True, "; ".join(notes), len(methods), seconds, window.warmup_method, rps, tps, little)
