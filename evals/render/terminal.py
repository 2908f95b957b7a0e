"""The short end-of-run table printed to the terminal (the full statistics live in the HTML report)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import numpy as np

from evals.results.metrics import METRICS, summarise, values_of
from evals.results.rundata import group_by_cell
from evals.results.table import RecordTable
from evals.untrusted import for_terminal


def send_lag_p99(table: RecordTable) -> float | None:
    lags = table.num("send_lag_ms")[~table.warmup]
    lags = lags[~np.isnan(lags)]
    return round(float(np.percentile(lags, 99)), 3) if lags.size else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rate(table: RecordTable, n_ok: int) -> float | None:
    """Successful requests per second over the cell's span, first send to last completion (the report gives
    the steady-window rate with its interval)."""
    sent, done = table.num("t_sent_ms"), table.num("t_done_ms")
    if np.isnan(sent).all() or np.isnan(done).all() or np.nanmax(done) <= np.nanmin(sent):
        return None
    return n_ok / ((float(np.nanmax(done)) - float(np.nanmin(sent))) / 1000.0)


def _figure(metric: str, table: RecordTable) -> float | None:
    """A cell's figure as the metric registry defines it (which records count, how the cell summarises them)."""
    values = values_of(METRICS[metric], table)
    return summarise(METRICS[metric], values) if values.size else None


def summary_rows(table: RecordTable) -> list[dict[str, Any]]:
    """One row per (suite, region, api, tier): counts, latency p50/p90, accuracy over scored requests."""
    rows = []
    for (suite, region, api, tier), cell in group_by_cell(table).items():
        n_ok = int(cell.ok.sum())
        rows.append({
            "suite": suite, "region": region, "api": api, "tier": tier,
            "n": len(cell), "ok": n_ok, "errors": len(cell) - n_ok,
            "throttled": int((np.nan_to_num(cell.num("throttles")) > 0).sum()),
            "p50_ms": _figure("latency_p50", cell),
            "p90_ms": _figure("latency_p90", cell),
            "accuracy": _figure("accuracy", cell),
            "ttft_p50_ms": _figure("ttft_p50", cell),
            "requests_per_s": _rate(cell, n_ok),
        })
    return rows


def print_headline(ranked: Sequence[Mapping[str, Any]], sweep: Mapping[str, Any] | None,
                   out: TextIO | None = None) -> None:
    """The report's headline in words: each varying dimension's levels ranked, with intervals and verdicts."""
    from evals.render.report.headline import lines  # the report package loads matplotlib: only when a run ends

    text = lines(ranked, sweep)
    if text:
        print("headline (a level's own figure: 95 % interval; a change: the interval its verdict is decided on; "
              "verdicts as in compare and gate):", file=out or sys.stderr)
    for line in text:
        print(for_terminal(line), file=out or sys.stderr)


def print_summary(table: RecordTable, run_info: Mapping[str, Any], out: TextIO | None = None) -> None:
    out = out or sys.stderr
    header = f"{'suite':<14}{'region':<11}{'api':<16}{'tier':<8}{'n':>6}{'ok':>6}{'err':>5}{'thr':>5}" \
             f"{'p50 ms':>9}{'p90 ms':>9}{'ttft p50':>9}{'req/s':>8}{'score':>7}"
    print(header, file=out)
    for row in summary_rows(table):
        suite, region, api, tier = (for_terminal(row[k]) for k in ("suite", "region", "api", "tier"))
        print(
            f"{suite[:13]:<14}{region:<11}{api:<16}{tier:<8}{row['n']:>6}{row['ok']:>6}"
            f"{row['errors']:>5}{row['throttled']:>5}{_fmt(row['p50_ms'], 1):>9}{_fmt(row['p90_ms'], 1):>9}"
            f"{_fmt(row['ttft_p50_ms'], 1):>9}{_fmt(row['requests_per_s'], 2):>8}{_fmt(row['accuracy'], 3):>7}",
            file=out,
        )
    target = run_info.get("target", {})
    if target.get("emulator"):
        print(f"note: {target['note']}", file=out)
    flags = run_info.get("flags", {})
    if flags.get("client_bound"):
        print(f"warning: client-bound run: send-lag p99 {flags['send_lag_p99_ms']} ms; the client, not the "
              "service, limited the offered load", file=out)
    headline = (run_info.get("outcome") or {}).get("headline")
    if headline:
        print(f"FAILED: {for_terminal(headline)}", file=out)
    detail = run_info.get("stop_detail")
    print(f"status: {run_info.get('status')}" + (f" ({for_terminal(detail)})" if detail else ""), file=out)
