"""Per-cell figures (suite x region x API x tier): counts, accuracy, latency, streaming, throughput, cost.

All statistics come from `evals.stats`; this module only chooses which records feed which method:
errors are counted and never scored, latency percentiles are over successful requests, warm-up is excluded
(by `group_by_cell`) and throughput is taken over the steady window only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evals.results.rundata import CellKey
from evals.stats import (
    Interval,
    bootstrap_mean_interval,
    clustered_mean_interval,
    littles_law_check,
    mean_in_flight,
    quantile_label,
    steady_window,
    throughput_interval,
    wilson_interval,
)
from evals.stats.dependent import quantile_interval
from evals.stats.results import NAN
from evals.stats.throughput import Window

from .figures import clean, column, interval_dict

QUANTILES = (0.5, 0.9, 0.99)
BOOTSTRAP_CAP = 2000  # above this many values a mean's interval is the plain t interval (CLT holds; the
# bootstrap would hold n x 9999 resamples in memory)
STREAMING_APIS = ("converse_stream", "invoke_stream")

Record = Mapping[str, Any]


def percentiles(values: np.ndarray) -> dict[str, Any] | None:
    """p50/p90/p99 of values in send order, with order-statistic intervals widened by the design effect of
    correlated requests (batch means over send time), greyed (available=False) when n is too small."""
    if values.size == 0:
        return None
    return {quantile_label(q): interval_dict(quantile_interval(values, q)) for q in QUANTILES}


def in_send_order(recs: Sequence[Record]) -> list[Record]:
    """Records run by run, each run's in send order: the order the intervals' batches follow."""
    return sorted(recs, key=lambda r: (str(r.get("run_id", "")), r.get("t_sent_ms") or 0.0))


def is_binary(scores: np.ndarray) -> bool:
    return bool(scores.size) and bool(np.isin(scores, (0.0, 1.0)).all())


def score_interval(recs: Sequence[Record]) -> dict[str, Any] | None:
    """Accuracy (0/1 scores) or mean score over scored successful requests.

    Wilson for independent 0/1 scores; a cluster-robust interval when several scores share an item or passage
    (repeats); a BCa bootstrap for the mean of continuous scores.
    """
    scored = [r for r in recs if r["status"] == "ok" and r.get("score") is not None]
    if not scored:
        return None
    scores = np.asarray([r["score"] for r in scored], dtype=float)
    clusters = [str(r.get("cluster") or r["sample_id"]) for r in scored]
    n_clusters = len(set(clusters))
    binary = is_binary(scores)
    if n_clusters < len(scored):
        iv = interval_dict(clustered_mean_interval(scores, clusters))
    elif binary:
        iv = interval_dict(wilson_interval(int(scores.sum()), int(scores.size)))
    else:
        iv = interval_dict(mean_interval(scores))
    if iv["available"] and (iv["low"] < 0.0 or iv["high"] > 1.0):
        # a t interval can cross the [0, 1] bounds a score cannot leave; clipping keeps its coverage
        iv["low"], iv["high"] = max(iv["low"], 0.0), min(iv["high"], 1.0)
        iv["note"] = "; ".join(s for s in (iv["note"], "clipped to [0, 1]") if s)
    iv["kind"] = "accuracy" if binary else "mean score"
    iv["clusters"] = n_clusters
    iv["repeats"] = clean(len(scored) / n_clusters)
    iv["correct"] = clean(float(scores.sum()))
    return iv


def mean_interval(values: np.ndarray) -> Interval:
    """BCa bootstrap for up to BOOTSTRAP_CAP values, the plain standard-error t interval beyond."""
    if values.size <= BOOTSTRAP_CAP:
        return bootstrap_mean_interval(values)
    return clustered_mean_interval(values)


def itl(recs: Sequence[Record]) -> dict[str, Any] | None:
    """Inter-token latency summarised per request first (its mean gap), then across requests.

    The same two steps as `evals.stats.itl_summary`, on the per-request means the reader already kept.
    """
    with_gaps = [r for r in recs if r.get("itl_gaps")]
    if not with_gaps:
        return None
    means = np.asarray([r["itl_mean_ms"] for r in with_gaps], dtype=float)
    return {"n_requests": int(means.size), "n_gaps": int(sum(r["itl_gaps"] for r in with_gaps)),
            "skipped": len(recs) - len(with_gaps), "mean": interval_dict(mean_interval(means)),
            **(percentiles(means) or {})}


def _window_of(recs: Sequence[Record]) -> Window | None:
    sent = column(recs, "t_sent_ms") / 1000.0
    done = column(recs, "t_done_ms") / 1000.0
    if sent.size == 0 or done.size == 0:
        return None
    window = steady_window(sent, done)
    return window if window.seconds > 0 else None


def by_session(recs: Sequence[Record]) -> dict[tuple[str, int], list[Record]]:
    """Records per (run, session): each session of a resumed run is its own stretch of load, so it gets its own
    steady window (the downtime between sessions is not part of any window)."""
    out: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for r in recs:
        out[(str(r.get("run_id", "")), int(r.get("session") or 0))].append(r)
    return dict(sorted(out.items()))


MIN_WINDOW_LATENCIES = 10  # a steady window shorter than this many mean latencies falls back to the full span


def _span(recs: Sequence[Record]) -> Window | None:
    """First send to last completion: start-up and drain included (for a closed loop they nearly cancel)."""
    sent, done = column(recs, "t_sent_ms") / 1000.0, column(recs, "t_done_ms") / 1000.0
    if sent.size == 0 or done.size == 0 or done.max() <= sent.min():
        return None
    return Window(float(sent.min()), float(done.max()), "full span")


def _mean_latency_s(recs_by_session: Mapping[Any, Sequence[Record]]) -> float:
    lat = np.concatenate([column(recs, "latency_ms") for recs in recs_by_session.values()] or [np.zeros(0)])
    return float(lat.mean()) / 1000.0 if lat.size else 0.0


def _laid_end_to_end(recs_by_session: Mapping[Any, Sequence[Record]],
                     windows: Mapping[Any, Window | None]) -> tuple[float, list[str], dict[str, np.ndarray]]:
    """Each session's records shifted so its window starts where the previous one ended.

    Returns (summed length, each window's method, arrays: sent and end of every completion, ok completions and
    their output tokens)."""
    parts: dict[str, list[np.ndarray]] = {"sent": [], "end": [], "ok_done": [], "tokens": []}
    offset = 0.0
    methods = []
    for key, recs in recs_by_session.items():
        window = windows[key]
        if window is None:
            continue
        methods.append(window.warmup_method)
        shift = offset - window.start
        timed = [r for r in recs if r.get("t_sent_ms") is not None and r.get("t_done_ms") is not None]
        ok = [r for r in timed if r["status"] == "ok"]
        parts["sent"].append(column(timed, "t_sent_ms") / 1000.0 + shift)
        parts["end"].append(column(timed, "t_done_ms") / 1000.0 + shift)
        parts["ok_done"].append(column(ok, "t_done_ms") / 1000.0 + shift)
        parts["tokens"].append(np.asarray([r.get("output_tokens") or 0 for r in ok], dtype=float))
        offset += window.seconds
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    return offset, methods, arrays


def throughput(recs_by_session: Mapping[Any, Sequence[Record]]) -> dict[str, Any]:
    """Output tokens/s and successful requests/s over the steady windows, with batch-means intervals.

    Every run and every session of a resumed run (`by_session`) has its own steady window (warm-up and drain
    tail cut). The windows are laid end to end: the rate is the completions in all steady windows over their
    summed length, so the downtime between sessions (or runs) never counts. Little's law is checked on every
    completion (errors too) inside the windows. Batches span at least one mean latency (see
    `throughput_interval`). When the steady windows together span fewer than 10 mean latencies (a short sweep
    level: at concurrency 64 with 64 requests all are sent at once and the window before the last send holds
    no completion), each session's full span is used instead, with no interval.
    """
    cycle = _mean_latency_s(recs_by_session)
    windows = {k: _window_of(recs) for k, recs in recs_by_session.items()}
    steady_s = sum(w.seconds for w in windows.values() if w is not None)
    fallback = steady_s < MIN_WINDOW_LATENCIES * cycle
    if fallback:
        windows = {k: _span(recs) for k, recs in recs_by_session.items()}
    seconds, methods, a = _laid_end_to_end(recs_by_session, windows)
    if seconds <= 0:
        return {"available": False, "note": "no steady window: requests were all sent at once or none finished"}
    window = Window(0.0, seconds, "+".join(sorted(set(methods))))
    inside = (a["end"] >= 0.0) & ((a["end"] <= seconds) if fallback else (a["end"] < seconds))
    notes = []
    if len(methods) > 1:
        notes.append(f"{len(methods)} windows (one per run and session) laid end to end: completions in them "
                     "over their summed length")
    if fallback:
        note = (f"steady window {steady_s:.1f} s is under {MIN_WINDOW_LATENCIES} mean latencies: rate over the "
                "full span, first send to last completion (start-up and drain included), no interval")
        notes.append(note)
        n_ok, tokens = int(a["ok_done"].size), float(a["tokens"].sum())
        short = "full span (too short for a steady window): no interval"
        rps = Interval(n_ok / seconds, NAN, NAN, "full span", n_ok, 0.95, False, short)
        tps = Interval(tokens / seconds, NAN, NAN, "full span", n_ok, 0.95, False, short)
    else:
        tp = throughput_interval(a["ok_done"], a["tokens"], window, min_batch_s=cycle)
        rps, tps = tp.requests_per_s, tp.output_tokens_per_s
    latency = float((a["end"] - a["sent"])[inside].mean()) if inside.any() else 0.0
    little = littles_law_check(mean_in_flight(a["sent"], a["end"], 0.0, seconds),
                               float(inside.sum()) / seconds, latency)
    return {
        "available": True,
        "windows": len(methods),
        "note": "; ".join(notes),
        "window_seconds": clean(seconds),
        "warmup_method": window.warmup_method,
        "output_tokens_per_s": interval_dict(tps),
        "requests_per_s": interval_dict(rps),
        "little": {
            "mean_in_flight": clean(little.mean_in_flight),
            "predicted_in_flight": clean(little.predicted_in_flight),
            "relative_gap": clean(little.relative_gap),
            "flagged": little.flagged,
        },
    }


def steady_start_s(recs: Sequence[Record]) -> float | None:
    """Start of the steady window of one session's records (seconds on the run clock), for shading plots."""
    window = _window_of(recs)
    return window.start if window is not None else None


def _mean_of(values: np.ndarray) -> float | None:
    return clean(float(values.mean())) if values.size else None


def cell_figures(key: CellKey, recs: Sequence[Record]) -> dict[str, Any]:
    """Every figure of one cell, JSON-ready."""
    ok = in_send_order([r for r in recs if r["status"] == "ok"])
    n, n_ok = len(recs), len(ok)
    errors = n - n_ok
    streamed = key.api in STREAMING_APIS
    runs = sorted({str(r.get("run_id", "")) for r in recs})
    costs = column(recs, "cost_usd")
    total_cost = float(costs.sum()) if costs.size else None
    acc = score_interval(recs)
    correct = acc["correct"] if acc else None
    in_tok, out_tok = column(ok, "input_tokens"), column(ok, "output_tokens")
    lags = column(recs, "send_lag_ms")
    with_images = [r for r in recs if (r.get("image_count") or 0) > 0]
    return {
        "key": key._asdict(),
        "label": key.label(),
        "model_ids": sorted({str(r.get("model_id")) for r in recs}),
        "runs": runs,
        "counts": {
            "requests": n,
            "ok": n_ok,
            "errors": errors,
            "throttled": sum(1 for r in recs if r.get("throttles")),
            "retried": sum(1 for r in recs if (r.get("attempts") or 1) > 1),
            "backoff_ms_total": clean(float(column(recs, "backoff_ms").sum())),
            "scored": acc["n"] if acc else 0,
        },
        "error_rate": interval_dict(wilson_interval(errors, n)),
        "score": acc,
        "latency_ms": percentiles(column(ok, "latency_ms")),
        "streamed": streamed,
        "ttft_ms": percentiles(column(ok, "ttft_ms")) if streamed else None,
        "tpot_ms": percentiles(column(ok, "tpot_ms")) if streamed else None,
        "itl_ms": itl(ok) if streamed else None,
        "server_latency_ms": percentiles(column(ok, "server_latency_ms")),
        "client_overhead_ms": percentiles(column(ok, "client_overhead_ms")),
        "send_lag_ms": percentiles(lags),
        "input_tokens": {"mean": _mean_of(in_tok), "total": int(in_tok.sum())},
        "output_tokens": {"mean": _mean_of(out_tok), "total": int(out_tok.sum())},
        "images": {
            "requests_with_images": len(with_images),
            "mean_bytes": _mean_of(column(with_images, "image_bytes")),
            "mean_pixels": _mean_of(column(with_images, "image_pixels")),
        },
        "throughput": throughput(by_session(recs)),
        "cost": {
            "total_usd": clean(total_cost),
            "per_1k_requests_usd": clean(total_cost / n * 1000) if total_cost is not None and n else None,
            "per_correct_usd": clean(total_cost / correct) if total_cost is not None and correct else None,
        },
    }


def level_figures(key: CellKey, recs: Sequence[Record]) -> list[dict[str, Any]]:
    """One row per load level of a sweep (concurrency or rate).

    The levels ran one after another, so each gets its own steady window; a whole-cell window would mix them.
    """
    by_level: dict[float, list[Record]] = defaultdict(list)
    for r in recs:
        if r.get("load_level") is not None:
            by_level[float(r["load_level"])].append(r)
    rows = []
    for level in sorted(by_level):
        lrecs = by_level[level]
        ok = [r for r in lrecs if r["status"] == "ok"]
        rows.append({
            "key": key._asdict(),
            "label": key.label(),
            "level": level,
            "requests": len(lrecs),
            "errors": len(lrecs) - len(ok),
            "error_rate": interval_dict(wilson_interval(len(lrecs) - len(ok), len(lrecs))),
            "latency_ms": percentiles(column(ok, "latency_ms")),
            "send_lag_ms": percentiles(column(lrecs, "send_lag_ms")),
            "throughput": throughput(by_session(lrecs)),
        })
    return rows
