"""Report figures drawn with matplotlib (Agg, no pyplot state) and embedded as SVG data: URIs.

An SVG inside <img> cannot run script or load anything, and matplotlib escapes label text it writes, so
untrusted suite names in legends stay text. Figures are drawn from columns: point clouds are downsampled
(a seeded uniform sample, the rule stated in the caption) and scatter layers rasterized, ECDFs drawn through a
fixed number of quantiles and rates through a fixed grid, so a million-record run yields figures of bounded
size and drawing time.
"""

from __future__ import annotations

import base64
import io
import sys
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from evals.results.rundata import CellKey, RunData
from evals.results.summaries import STREAMING_APIS
from evals.results.table import Labels, RecordTable
from evals.results.throughput import sessions, steady_start_s
from evals.untrusted import for_terminal

from .tables import CellTables

POINT_CAP = 4000  # points per scatter
MARK_MIN = 100  # latency over time: errors (and throttled requests) drawn at least this many, when there are
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


def _sample(rows: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most `cap` of `rows`, a seeded uniform sample without replacement, kept in order."""
    if rows.size <= cap:
        return rows
    return rows[np.sort(np.random.default_rng(seed).choice(rows.size, size=cap, replace=False))]


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


def _truthy(values: np.ndarray) -> np.ndarray:
    """Present and non-zero (a zero latency is no measurement)."""
    return ~np.isnan(values) & (values != 0)


def latency_ecdf(cells: Mapping[CellKey, RecordTable]) -> Figure | None:
    """ECDF of successful-request latency, one line per cell, one panel per suite, log x axis (each line drawn
    through ECDF_POINTS quantiles, whatever the number of requests)."""
    suites = sorted({k.suite for k in cells})
    lats = {key: lat[_truthy(lat)] for key, t in cells.items() for lat in (t.num("latency_ms")[t.ok],)}
    if not any(lat.size for lat in lats.values()):
        return None
    shown = suites[:MAX_PANELS]
    fig = _figure(9.0, 3.2 * len(shown))
    axes = fig.subplots(len(shown), 1, squeeze=False)[:, 0]
    colors = _colors([k.region for k in cells])
    apis = sorted({k.api for k in cells})
    q = np.linspace(0.0, 1.0, ECDF_POINTS)
    for ax, suite in zip(axes, shown, strict=True):
        for key, lat in lats.items():
            if key.suite != suite or lat.size == 0:
                continue
            ax.step(np.quantile(lat, q), q, where="post", color=colors[key.region],
                    linestyle=LINESTYLES[apis.index(key.api) % len(LINESTYLES)],
                    label=f"{key.region} / {key.api} / {key.tier} (n={lat.size:,})")
        ax.set_xscale("log")
        ax.set_xlabel("end-to-end latency (ms, log scale)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"suite: {suite}", loc="left")
        ax.legend(loc="lower right")
    if len(suites) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(suites)} suites shown", fontsize=8)
    return fig


def _seconds(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)] / 1000


def _shade_warmup(ax: Any, runs: Sequence[RunData], offsets: Mapping[str, float]) -> None:
    """Shade, per run, the configured warm-up requests (excluded from every statistic) and the start-up
    transient MSER-5 cut before the steady window (excluded from throughput only)."""
    labelled = set()
    for run in runs:
        off = offsets.get(run.run_id, 0.0)
        table = run.table
        sent = table.num("t_sent_ms")
        warm, starts = _seconds(sent[table.warmup]), _seconds(sent[~table.warmup])
        spans = []
        if warm.size:
            end = float(starts.min()) if starts.size else float(warm.max())
            spans.append((float(warm.min()), max(end, float(warm.max())), "0.75", "warm-up requests (excluded)"))
        for rows in sessions(table, np.flatnonzero(~table.warmup)):  # each session of a resumed run: its window
            first = _seconds(sent[rows])
            steady = steady_start_s(table, rows)
            if first.size and steady is not None and steady > first.min():
                spans.append((float(first.min()), steady, "0.9", "before the steady window (not in throughput)"))
        for lo, hi, color, label in spans:
            ax.axvspan(lo + off, hi + off, color=color, zorder=0, linewidth=0,
                       label=None if label in labelled else label)
            labelled.add(label)


def _shifts(runs: Sequence[RunData], offsets: Mapping[str, float]) -> np.ndarray:
    """Each record's clock offset in seconds, for a table holding every record of `runs` run by run."""
    return np.concatenate([np.full(len(run.table), offsets.get(run.run_id, 0.0)) for run in runs] or [np.zeros(0)])


def _by_region(ax: Any, regions: Labels, rows: np.ndarray, x: np.ndarray, y: np.ndarray,
               colors: Mapping[str, Any]) -> None:
    names = regions.take(rows)
    for region in sorted({names.values[c] for c in np.unique(names.codes[names.codes >= 0]).tolist()}):
        sel = rows[names.eq(region)]
        ax.scatter(x[sel], y[sel], s=4, alpha=0.5, color=colors[region], label=region, rasterized=True,
                   linewidths=0)


def latency_over_time(runs: Sequence[RunData], table: RecordTable, offsets: Mapping[str, float]) -> Figure | None:
    """Latency by send time, errors and throttled requests marked, warm-up shaded. Drawn: a seeded uniform
    sample of at most POINT_CAP requests, so each kind shows in proportion at any size, with at least MARK_MIN
    errors and throttled requests each (all when fewer) so rare failures stay visible; the legend counts all.
    `table` holds every record of `runs`, run by run."""
    shift = _shifts(runs, offsets)
    lat, sent = table.num("latency_ms"), table.num("t_sent_ms")
    timed = ~np.isnan(sent) & _truthy(lat)
    if not timed.any():
        return None
    x = sent / 1000 + shift
    fig = _figure(9.0, 3.6)
    ax = fig.subplots()
    _shade_warmup(ax, runs, offsets)
    throttles = np.nan_to_num(table.num("throttles")) != 0
    regions = table.label("region")
    colors = _colors(regions.take(np.flatnonzero(timed)).present())
    drawn = np.zeros(len(table), dtype=bool)
    drawn[_sample(np.flatnonzero(timed), POINT_CAP, 0)] = True
    _by_region(ax, regions, np.flatnonzero(drawn & table.ok & ~throttles), x, lat, colors)
    for mask, marker, color, label in ((timed & table.ok & throttles, "^", "darkorange", "throttled, then ok"),
                                       (timed & ~table.ok, "x", "crimson", "error")):
        group = np.flatnonzero(mask)
        if group.size:
            pts = np.flatnonzero(drawn & mask)
            if pts.size < min(group.size, MARK_MIN):
                pts = _sample(group, MARK_MIN, 1)
            ax.scatter(x[pts], lat[pts], s=14, marker=marker, color=color, label=f"{label} ({group.size:,})",
                       rasterized=True)
    ax.set_yscale("log")
    ax.set_xlabel("send time (s from the first run's start)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.legend(loc="upper right", markerscale=2)
    return fig


def _scatter_by_region(table: RecordTable, rows: np.ndarray, xkey: str, ykey: str, xlabel: str,
                       ylabel: str) -> Figure:
    fig = _figure(9.0, 3.4)
    ax = fig.subplots()
    regions = table.label("region")
    colors = _colors(regions.take(rows).present())
    x, y = table.num(xkey), table.num(ykey)
    for region in sorted(colors):
        sel = rows[regions.take(rows).eq(region)]
        ax.scatter(x[sel], y[sel], s=5, alpha=0.5, color=colors[region], label=region, rasterized=True,
                   linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(markerscale=2)
    return fig


def ttft_vs_input(table: RecordTable) -> Figure | None:
    pts = np.flatnonzero(table.ok & table.label("api").isin(STREAMING_APIS) & ~np.isnan(table.num("ttft_ms"))
                         & ~np.isnan(table.num("input_tokens")))
    if not pts.size:
        return None
    return _scatter_by_region(table, _sample(pts, POINT_CAP, 2), "input_tokens", "ttft_ms",
                              "input tokens (service-reported)", "TTFT (ms)")


def latency_vs_image_bytes(table: RecordTable) -> Figure | None:
    pts = np.flatnonzero(table.ok & (np.nan_to_num(table.num("image_count")) > 0)
                         & ~np.isnan(table.num("image_bytes")) & _truthy(table.num("latency_ms")))
    if not pts.size:
        return None
    return _scatter_by_region(table, _sample(pts, POINT_CAP, 3), "image_bytes", "latency_ms",
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


def throughput_over_time(runs: Sequence[RunData], table: RecordTable, offsets: Mapping[str, float],
                         points: int = 400) -> Figure | None:
    """Output tokens/s of successful completions per region, over a trailing moving window (stated on the axis);
    `table` holds every record of `runs`, run by run."""
    shift = _shifts(runs, offsets)
    done = table.num("t_done_ms")
    rows = np.flatnonzero(table.ok & ~np.isnan(done))
    if rows.size < 2:
        return None
    t = done[rows] / 1000 + shift[rows]
    if np.ptp(t) <= 0:
        return None
    tokens = np.nan_to_num(table.num("output_tokens")[rows])
    window = smoothing_window(float(np.ptp(t)))
    grid = np.linspace(t.min(), t.max(), points)
    fig = _figure(9.0, 3.4)
    ax = fig.subplots()
    _shade_warmup(ax, runs, offsets)
    regions = table.label("region").take(rows)
    colors = _colors(regions.present())
    for region in sorted(colors):
        sel = regions.eq(region)
        ax.plot(grid, moving_rate(t[sel], tokens[sel], grid, window), color=colors[region], label=region)
    ax.set_xlabel("completion time (s from the first run's start)")
    ax.set_ylabel(f"output tokens/s\n({window:g} s moving window)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def all_plots(runs: Sequence[RunData], cells: CellTables, summary: Mapping[str, Any],
              measured: RecordTable, full: RecordTable) -> list[dict[str, str]]:
    """Every applicable figure as {id, title, caption, uri}; figures with no data are left out. `measured` and
    `full`: the measured and all records of `runs`, run by run."""
    offsets = run_offsets(runs)
    specs = [
        ("latency-ecdf", "Latency distribution (ECDF)",
         "Share of successful requests finished within a latency; one line per cell, log axis. "
         "A line further left is faster; the top of each line shows its tail.",
         lambda: latency_ecdf(cells)),
        ("latency-time", "Latency over time",
         f"Every request by send time, drawn as a seeded uniform sample of at most {POINT_CAP:,} requests (all "
         "when fewer), so successes, errors (×) and throttled-then-successful requests (▲) show in proportion; "
         f"errors and throttled requests each drawn at least {MARK_MIN} times when there are that many (the "
         "legend counts all); dark shading: configured warm-up requests "
         "(excluded from every statistic); light shading: the start-up transient MSER-5 cut before the steady "
         "window (excluded from throughput only).", lambda: latency_over_time(runs, full, offsets)),
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
         lambda: throughput_over_time(runs, full, offsets)),
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
