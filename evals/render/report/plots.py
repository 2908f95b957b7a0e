"""Report figures drawn with matplotlib (Agg, no pyplot state) and embedded as SVG data: URIs.

An SVG inside <img> cannot run script or load anything, and matplotlib escapes label text it writes, so
untrusted suite names in legends stay text. Point clouds are downsampled (seeded) and scatter layers
rasterized, so a 200k-record run yields figures of bounded size.
"""

from __future__ import annotations

import base64
import io
import sys
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from evals.results.rundata import CellKey, RunData
from evals.untrusted import for_terminal

from .cells import STREAMING_APIS, by_session, steady_start_s

Record = Mapping[str, Any]

POINT_CAP = 4000  # successful points per scatter
MARK_CAP = 1000  # error / throttle markers per scatter
ECDF_POINTS = 512
MAX_PANELS = 4
MAX_ACCURACY_ROWS = 60
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text (escaped), not glyph paths: smaller and selectable
    "svg.hashsalt": "bedrock-evals",  # stable element ids: re-rendering the same records gives the same SVG
    "font.size": 11,  # a 9-inch figure shows at ~860 px: 11 pt labels stay legible at the page's width
    "legend.fontsize": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
LINESTYLES = ("-", "--", ":", "-.")


def _uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 9.0, height: float = 4.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


T = TypeVar("T")


def _sample(items: Sequence[T], cap: int, seed: int) -> list[T]:
    if len(items) <= cap:
        return list(items)
    idx = np.sort(np.random.default_rng(seed).choice(len(items), size=cap, replace=False))
    return [items[i] for i in idx]


def _colors(names: Sequence[str]) -> dict[str, Any]:
    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(sorted(set(names)))}


def run_offsets(runs: Sequence[RunData]) -> dict[str, float]:
    """Seconds to add to each run's clock to put merged runs on one wall-clock axis (0 when unknown)."""
    walls: dict[str, datetime] = {}
    for run in runs:
        stamp = run.info.get("origin_wall") or run.info.get("started_at")
        try:
            walls[run.run_id] = datetime.fromisoformat(str(stamp))
        except ValueError:
            return {run.run_id: 0.0 for run in runs}
    first = min(walls.values()) if walls else None
    return {rid: (w - first).total_seconds() for rid, w in walls.items()} if first else {}


def latency_ecdf(cells: Mapping[CellKey, Sequence[Record]]) -> Figure | None:
    """ECDF of successful-request latency, one line per cell, one panel per suite, log x axis."""
    suites = sorted({k.suite for k in cells})
    if not any(r["status"] == "ok" and r.get("latency_ms") for recs in cells.values() for r in recs):
        return None
    shown = suites[:MAX_PANELS]
    fig = _figure(9.0, 3.2 * len(shown))
    axes = fig.subplots(len(shown), 1, squeeze=False)[:, 0]
    colors = _colors([k.region for k in cells])
    apis = sorted({k.api for k in cells})
    q = np.linspace(0.0, 1.0, ECDF_POINTS)
    for ax, suite in zip(axes, shown, strict=True):
        for key, recs in cells.items():
            if key.suite != suite:
                continue
            lat = np.asarray([r["latency_ms"] for r in recs if r["status"] == "ok" and r.get("latency_ms")])
            if lat.size == 0:
                continue
            ax.step(np.quantile(lat, q), q, where="post", color=colors[key.region],
                    linestyle=LINESTYLES[apis.index(key.api) % len(LINESTYLES)],
                    label=f"{key.region} / {key.api} / {key.tier} (n={lat.size})")
        ax.set_xscale("log")
        ax.set_xlabel("end-to-end latency (ms, log scale)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"suite: {suite}", loc="left")
        ax.legend(loc="lower right")
    if len(suites) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(suites)} suites shown", fontsize=8)
    return fig


def _shade_warmup(ax: Any, runs: Sequence[RunData], offsets: Mapping[str, float]) -> None:
    """Shade, per run, the configured warm-up requests (excluded from every statistic) and the start-up
    transient MSER-5 cut before the steady window (excluded from throughput only)."""
    labelled = set()
    for run in runs:
        off = offsets.get(run.run_id, 0.0)
        warm = [r["t_sent_ms"] / 1000 for r in run.records if r.get("warmup") and r.get("t_sent_ms") is not None]
        measured = run.measured()
        starts = [r["t_sent_ms"] / 1000 for r in measured if r.get("t_sent_ms") is not None]
        spans = []
        if warm:
            end = min(starts) if starts else max(warm)
            spans.append((min(warm), max(end, max(warm)), "0.75", "warm-up requests (excluded)"))
        for session in by_session(measured).values():  # each session of a resumed run has its own window
            first = [r["t_sent_ms"] / 1000 for r in session if r.get("t_sent_ms") is not None]
            steady = steady_start_s(session)
            if first and steady is not None and steady > min(first):
                spans.append((min(first), steady, "0.9", "before the steady window (not in throughput)"))
        for lo, hi, color, label in spans:
            ax.axvspan(lo + off, hi + off, color=color, zorder=0, linewidth=0,
                       label=None if label in labelled else label)
            labelled.add(label)


def latency_over_time(runs: Sequence[RunData], offsets: Mapping[str, float]) -> Figure | None:
    """Latency by send time, errors and throttled requests marked, warm-up shaded."""
    rows = [(r, offsets.get(run.run_id, 0.0)) for run in runs for r in run.records
            if r.get("t_sent_ms") is not None and r.get("latency_ms")]
    if not rows:
        return None
    fig = _figure(9.0, 3.6)
    ax = fig.subplots()
    _shade_warmup(ax, runs, offsets)
    ok = [(r, o) for r, o in rows if r["status"] == "ok" and not r.get("throttles")]
    throttled = [(r, o) for r, o in rows if r["status"] == "ok" and r.get("throttles")]
    errors = [(r, o) for r, o in rows if r["status"] != "ok"]
    colors = _colors([r["region"] for r, _ in rows])
    by_region: dict[str, list] = defaultdict(list)
    for r, o in _sample(ok, POINT_CAP, 0):
        by_region[r["region"]].append((r["t_sent_ms"] / 1000 + o, r["latency_ms"]))
    for region, pts in sorted(by_region.items()):
        x, y = zip(*pts, strict=True)
        ax.scatter(x, y, s=4, alpha=0.5, color=colors[region], label=region, rasterized=True, linewidths=0)
    for group, marker, color, label in ((throttled, "^", "darkorange", "throttled, then ok"),
                                        (errors, "x", "crimson", "error")):
        if group:
            pts = _sample(group, MARK_CAP, 1)
            ax.scatter([r["t_sent_ms"] / 1000 + o for r, o in pts], [r["latency_ms"] for r, o in pts],
                       s=14, marker=marker, color=color, label=f"{label} ({len(group)})", rasterized=True)
    ax.set_yscale("log")
    ax.set_xlabel("send time (s from the first run's start)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.legend(loc="upper right", markerscale=2)
    return fig


def _scatter_by_region(pts: Sequence[Record], xkey: str, ykey: str, xlabel: str, ylabel: str) -> Figure:
    fig = _figure(9.0, 3.4)
    ax = fig.subplots()
    colors = _colors([r["region"] for r in pts])
    for region in sorted(colors):
        sel = [r for r in pts if r["region"] == region]
        ax.scatter([r[xkey] for r in sel], [r[ykey] for r in sel], s=5, alpha=0.5, color=colors[region],
                   label=region, rasterized=True, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(markerscale=2)
    return fig


def ttft_vs_input(records: Sequence[Record]) -> Figure | None:
    pts = [r for r in records if r["status"] == "ok" and r["api"] in STREAMING_APIS
           and r.get("ttft_ms") is not None and r.get("input_tokens") is not None]
    if not pts:
        return None
    return _scatter_by_region(_sample(pts, POINT_CAP, 2), "input_tokens", "ttft_ms",
                              "input tokens (service-reported)", "TTFT (ms)")


def latency_vs_image_bytes(records: Sequence[Record]) -> Figure | None:
    pts = [r for r in records if r["status"] == "ok" and (r.get("image_count") or 0) > 0
           and r.get("image_bytes") is not None and r.get("latency_ms")]
    if not pts:
        return None
    return _scatter_by_region(_sample(pts, POINT_CAP, 3), "image_bytes", "latency_ms",
                              "encoded image bytes sent", "latency (ms)")


def accuracy_intervals(cells: Sequence[Mapping[str, Any]]) -> Figure | None:
    """Accuracy (or mean score) with its interval per cell, grouped by suite."""
    rows = [c for c in cells if c["score"] is not None][:MAX_ACCURACY_ROWS]
    if not rows:
        return None
    fig = _figure(9.0, 1.2 + 0.34 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    est = np.asarray([c["score"]["estimate"] for c in rows], dtype=float)
    lo = np.asarray([c["score"]["low"] if c["score"]["low"] is not None else np.nan for c in rows], dtype=float)
    hi = np.asarray([c["score"]["high"] if c["score"]["high"] is not None else np.nan for c in rows], dtype=float)
    err = np.vstack([np.nan_to_num(est - lo), np.nan_to_num(hi - est)])
    ax.errorbar(est, y, xerr=err, fmt="o", color="tab:blue", capsize=3, markersize=4)
    ax.set_yticks(y, [c["label"] for c in rows], fontsize=10)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("accuracy / mean score over scored requests (95 % interval)")
    return fig


def _bars(ivs: Sequence[Mapping[str, Any] | None]) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and asymmetric error bars (0 where an interval is unavailable)."""
    est = np.asarray([iv["estimate"] if iv and iv["estimate"] is not None else np.nan for iv in ivs], dtype=float)
    lo = np.asarray([iv["low"] if iv and iv["low"] is not None else np.nan for iv in ivs], dtype=float)
    hi = np.asarray([iv["high"] if iv and iv["high"] is not None else np.nan for iv in ivs], dtype=float)
    return est, np.vstack([np.nan_to_num(est - lo), np.nan_to_num(hi - est)])


def sweep_plot(curve: Mapping[str, Any] | None) -> Figure | None:
    """Total achieved requests/s (top) and latency p50/p90 (bottom) against the level on a log axis; knee marked."""
    if not curve:
        return None
    rows = curve["rows"]
    x = np.asarray([r["level"] for r in rows], dtype=float)
    fig = _figure(9.0, 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    rate, err = _bars([r["throughput"].get("requests_per_s") for r in rows])
    top.errorbar(x, rate, yerr=err, marker="o", capsize=3, color="tab:blue", label="achieved requests/s (total)")
    if curve["of"] == "rate":
        top.plot(x, x, linestyle=":", color="0.5", label="offered rate")
    top.set_ylabel("requests/s")
    top.set_ylim(bottom=0)
    for q, style in (("p50", "-"), ("p90", "--")):
        est, err = _bars([r["latency_ms"][q] if r["latency_ms"] else None for r in rows])
        bottom.errorbar(x, est, yerr=err, marker="o", capsize=3, linestyle=style, color="tab:orange",
                        label=f"latency {q}")
    bottom.set_ylabel("latency (ms)")
    bottom.set_ylim(bottom=0)
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(x, [f"{v:g}" for v in x])
    bottom.minorticks_off()
    bottom.set_xlabel("concurrency (log scale)" if curve["of"] == "concurrency" else "offered requests/s (log scale)")
    if curve["knee"]:
        knee = curve["knee"]["level"]
        for ax in (top, bottom):
            ax.axvline(knee, color="crimson", linestyle=":", label=f"knee ({knee:g})")
    for ax in (top, bottom):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def smoothing_window(span_s: float) -> float:
    """The moving window for rates over time: a twentieth of the span, in whole seconds between 1 and 60."""
    return float(min(60, max(1, round(span_s / 20))))


def moving_rate(t: np.ndarray, weights: np.ndarray, grid: np.ndarray, window: float) -> np.ndarray:
    """Sum of `weights` completed in the trailing window (g - window, g] at each grid time, per second."""
    order = np.argsort(t)
    t, cum = t[order], np.concatenate([[0.0], np.cumsum(weights[order])])
    return (cum[np.searchsorted(t, grid, side="right")] - cum[np.searchsorted(t, grid - window, side="right")]) / window


def throughput_over_time(runs: Sequence[RunData], offsets: Mapping[str, float], points: int = 400) -> Figure | None:
    """Output tokens/s of successful completions per region, over a trailing moving window (stated on the axis)."""
    rows = [(r["region"], r["t_done_ms"] / 1000 + offsets.get(run.run_id, 0.0), r.get("output_tokens") or 0)
            for run in runs for r in run.records if r["status"] == "ok" and r.get("t_done_ms") is not None]
    if len(rows) < 2:
        return None
    t = np.asarray([row[1] for row in rows])
    if np.ptp(t) <= 0:
        return None
    window = smoothing_window(float(np.ptp(t)))
    grid = np.linspace(t.min(), t.max(), points)
    fig = _figure(9.0, 3.4)
    ax = fig.subplots()
    _shade_warmup(ax, runs, offsets)
    colors = _colors([row[0] for row in rows])
    for region in sorted(colors):
        sel = np.asarray([(tt, tok) for reg, tt, tok in rows if reg == region], dtype=float)
        ax.plot(grid, moving_rate(sel[:, 0], sel[:, 1], grid, window), color=colors[region], label=region)
    ax.set_xlabel("completion time (s from the first run's start)")
    ax.set_ylabel(f"output tokens/s\n({window:g} s moving window)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def all_plots(runs: Sequence[RunData], cells: Mapping[CellKey, Sequence[Record]], summary: Mapping[str, Any],
              measured: Sequence[Record]) -> list[dict[str, str]]:
    """Every applicable figure as {id, title, caption, uri}; figures with no data are left out."""
    offsets = run_offsets(runs)
    specs = [
        ("latency-ecdf", "Latency distribution (ECDF)",
         "Share of successful requests finished within a latency; one line per cell, log axis. "
         "A line further left is faster; the top of each line shows its tail.",
         lambda: latency_ecdf(cells)),
        ("latency-time", "Latency over time",
         "Every request by send time (successful ones downsampled to at most "
         f"{POINT_CAP}); errors and throttled requests marked; dark shading: configured warm-up requests "
         "(excluded from every statistic); light shading: the start-up transient MSER-5 cut before the steady "
         "window (excluded from throughput only).", lambda: latency_over_time(runs, offsets)),
        ("ttft-input", "TTFT against input tokens (streaming APIs)",
         "Time to first token against the service-reported input tokens.", lambda: ttft_vs_input(measured)),
        ("latency-images", "Latency against image bytes (image suites)",
         "End-to-end latency against the encoded image bytes sent with the request.",
         lambda: latency_vs_image_bytes(measured)),
        ("accuracy", "Accuracy with intervals per cell",
         "Point estimate and 95 % interval (Wilson, clustered or bootstrap; see the summary table).",
         lambda: accuracy_intervals(summary["cells"])),
        ("sweep", "Sweep: throughput and latency against load",
         "Total achieved requests/s over all cells (batch-means intervals where the level ran long enough) and "
         "p50/p90 latency (order-statistic intervals) per level; the dotted red line is the knee.",
         lambda: sweep_plot(summary.get("sweep"))),
        ("throughput-time", "Throughput over time",
         "Output tokens/s of successful completions per region, each point the tokens completed in the "
         "trailing moving window named on the axis (a twentieth of the run, 1 to 60 s) over its length; "
         "shading as in the latency-over-time plot.",
         lambda: throughput_over_time(runs, offsets)),
    ]
    out = []
    with rc_context(STYLE), warnings.catch_warnings(record=True) as caught:  # type: ignore[arg-type]
        warnings.simplefilter("always")
        for pid, title, caption, make in specs:
            fig = make()
            if fig is not None:
                out.append({"id": pid, "title": title, "caption": caption, "uri": _uri(fig)})
    # a missing-glyph warning quotes the untrusted label's characters: shown neutralised, once each
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"warning: {for_terminal(message)}", file=sys.stderr)
    return out
