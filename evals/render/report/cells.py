"""Per-cell figures (suite x region x API x tier): counts, accuracy, latency, streaming, throughput, cost.

Every percentile, accuracy and rate with its interval is the registry's one-arm summary
(`evals.results.summaries`, over the metric registry's definitions of which records count); this module only
and throughput over the steady windows (`evals.results.throughput`); this module lays them out per cell and per
sweep level: errors are counted and never scored, warm-up is excluded (by `group_by_cell`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evals.results import summaries
from evals.results.metrics import METRICS
from evals.results.rundata import CellKey
from evals.results.summaries import STREAMING_APIS
from evals.results.table import RecordTable
from evals.results.throughput import Throughput, sessions, throughput
from evals.stats import Interval

from .figures import clean, interval_dict

__all__ = ["STREAMING_APIS", "cell_figures", "level_figures", "percentiles", "score_interval", "throughput_json"]

ERROR_RATE = METRICS["error_rate"]
CELL_DISTRIBUTIONS = ("latency_ms", "server_latency_ms", "client_overhead_ms", "send_lag_ms")
STREAMED_DISTRIBUTIONS = ("ttft_ms", "tpot_ms")


def percentiles(quantiles: dict[str, Interval] | None) -> dict[str, Any] | None:
    """p50/p90/p99 intervals as JSON (greyed, available=False, when n is too small)."""
    return {k: interval_dict(iv) for k, iv in quantiles.items()} if quantiles is not None else None


def throughput_json(tp: Throughput) -> dict[str, Any]:
    """Throughput as summary.json holds it (only `available` and `note` when there is no window)."""
    if not tp.available or tp.requests_per_s is None or tp.output_tokens_per_s is None or tp.little is None:
        return {"available": False, "note": tp.note}
    return {
        "available": True,
        "windows": tp.windows,
        "note": tp.note,
        "window_seconds": clean(tp.seconds),
        "warmup_method": tp.warmup_method,
        "output_tokens_per_s": interval_dict(tp.output_tokens_per_s),
        "requests_per_s": interval_dict(tp.requests_per_s),
        "little": {
            "mean_in_flight": clean(tp.little.mean_in_flight),
            "predicted_in_flight": clean(tp.little.predicted_in_flight),
            "relative_gap": clean(tp.little.relative_gap),
            "flagged": tp.little.flagged,
        },
    }


def score_interval(table: RecordTable) -> dict[str, Any] | None:
    """Accuracy (0/1 scores) or mean score over scored successful requests, JSON-ready (see
    `evals.results.summaries.score`: Wilson, clustered or bootstrap)."""
    s = summaries.score(table)
    if s is None:
        return None
    iv = interval_dict(s.interval)
    if s.clipped:
        # a t interval can cross the [0, 1] bounds a score cannot leave; clipping keeps its coverage
        iv["low"], iv["high"] = max(iv["low"], 0.0), min(iv["high"], 1.0)
        iv["note"] = "; ".join(t for t in (iv["note"], "clipped to [0, 1]") if t)
    iv["kind"] = s.kind
    iv["clusters"] = s.clusters
    iv["repeats"] = clean(s.repeats)
    iv["correct"] = clean(s.correct)
    return iv


def itl(table: RecordTable, order: np.ndarray) -> dict[str, Any] | None:
    s = summaries.itl(table, order)
    if s is None:
        return None
    return {"n_requests": s.n_requests, "n_gaps": s.n_gaps, "skipped": s.skipped, "mean": interval_dict(s.mean),
            **(percentiles(s.quantiles) or {})}


def _present(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def _mean_of(values: np.ndarray) -> float | None:
    v = _present(values)
    return clean(float(v.mean())) if v.size else None


def _texts(table: RecordTable, field: str) -> list[str]:
    """Distinct values of a label column as text (a null as 'None'), sorted."""
    labels = table.label(field)
    out = {labels.values[c] for c in np.unique(labels.codes[labels.codes >= 0]).tolist()}
    if (labels.codes < 0).any():
        out.add("None")
    return sorted(out)


def _counts(table: RecordTable, n_ok: int, scored: int) -> dict[str, Any]:
    return {
        "requests": len(table),
        "ok": n_ok,
        "errors": len(table) - n_ok,
        "throttled": int((np.nan_to_num(table.num("throttles")) != 0).sum()),
        "retried": int((np.nan_to_num(table.num("attempts"), nan=1.0) > 1).sum()),
        "backoff_ms_total": clean(float(_present(table.num("backoff_ms")).sum())),
        "scored": scored,
    }


def _cost(table: RecordTable, correct: float | None) -> dict[str, Any]:
    costs = _present(table.num("cost_usd"))
    total = float(costs.sum()) if costs.size else None
    n = len(table)
    return {
        "total_usd": clean(total),
        "per_1k_requests_usd": clean(total / n * 1000) if total is not None and n else None,
        "per_correct_usd": clean(total / correct) if total is not None and correct else None,
    }


def cell_figures(key: CellKey, table: RecordTable, replicates: bool = True) -> dict[str, Any]:
    """Every figure of one cell (its measured records), JSON-ready. `replicates`: the cell's runs repeat one
    configuration (false for a sweep's runs, each at its own load: no run-level intervals across them)."""
    ok = table.ok
    n_ok = int(ok.sum())
    streamed = key.api in STREAMING_APIS
    order = summaries.send_order(table)
    models = _texts(table, "model_id")
    replicates = replicates and len(models) <= 1  # runs of two models (--allow-mixed) are not repeats
    dist = summaries.distributions(table, CELL_DISTRIBUTIONS + (STREAMED_DISTRIBUTIONS if streamed else ()), order,
                                   replicates)
    acc = score_interval(table)
    images = np.nan_to_num(table.num("image_count")) > 0
    with_images = table.take(images) if images.any() else None
    return {
        "key": key._asdict(),
        "label": key.label(),
        "model_ids": models,
        "runs": _texts(table, "run_id"),
        "counts": _counts(table, n_ok, acc["n"] if acc else 0),
        "error_rate": interval_dict(summaries.rate(ERROR_RATE, table)),
        "score": acc,
        "latency_ms": percentiles(dist["latency_ms"]),
        "streamed": streamed,
        "ttft_ms": percentiles(dist["ttft_ms"]) if streamed else None,
        "tpot_ms": percentiles(dist["tpot_ms"]) if streamed else None,
        "itl_ms": itl(table, order) if streamed else None,
        "server_latency_ms": percentiles(dist["server_latency_ms"]),
        "client_overhead_ms": percentiles(dist["client_overhead_ms"]),
        "send_lag_ms": percentiles(dist["send_lag_ms"]),
        "input_tokens": {"mean": _mean_of(table.num("input_tokens")[ok]),
                         "total": int(_present(table.num("input_tokens")[ok]).sum())},
        "output_tokens": {"mean": _mean_of(table.num("output_tokens")[ok]),
                          "total": int(_present(table.num("output_tokens")[ok]).sum())},
        "images": {
            "requests_with_images": int(images.sum()),
            "mean_bytes": _mean_of(with_images.num("image_bytes")) if with_images is not None else None,
            "mean_pixels": _mean_of(with_images.num("image_pixels")) if with_images is not None else None,
        },
        "throughput": throughput_json(throughput(table, sessions(table), replicates)),
        "cost": _cost(table, acc["correct"] if acc else None),
    }


def by_level(table: RecordTable) -> list[tuple[float, RecordTable]]:
    """(load level, its records) for each sweep level present, in level order."""
    levels = table.num("load_level")
    present = np.unique(_present(levels))
    return [(float(level), table.take(levels == level)) for level in present.tolist()]


def level_figures(key: CellKey, table: RecordTable) -> list[dict[str, Any]]:
    """One row per load level of a sweep (concurrency or rate).

    The levels ran one after another, so each gets its own steady window; a whole-cell window would mix them.
    """
    rows = []
    for level, lt in by_level(table):
        n_ok = int(lt.ok.sum())
        dist = summaries.distributions(lt, ("latency_ms", "send_lag_ms"))
        rows.append({
            "key": key._asdict(),
            "label": key.label(),
            "level": level,
            "requests": len(lt),
            "errors": len(lt) - n_ok,
            "error_rate": interval_dict(summaries.rate(ERROR_RATE, lt)),
            "latency_ms": percentiles(dist["latency_ms"]),
            "send_lag_ms": percentiles(dist["send_lag_ms"]),
            "throughput": throughput_json(throughput(lt, sessions(lt))),
        })
    return rows

