"""Throughput over a steady window: warm-up detection, rates, batch means and Little's law.

Warm-up is detected with MSER-5 (White 1997; Hoad, Robinson & Davies 2010) and the drain tail is cut at the
last send; the rate interval uses non-overlapping batch means (10-30 batches), which absorbs the
autocorrelation of a time series that an i.i.d. interval would ignore. scipy has none of these, hence hand-written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from . import dependent
from .results import NAN, Interval, check_confidence

MSER_BATCH = 5
MAX_BINS = 100  # time bins of a throughput window; batch means group them (evals.stats.dependent)
LITTLE_TOLERANCE = 0.10


def mser5_truncation(series: ArrayLike) -> int:
    """Number of leading observations to drop as warm-up (MSER-5).

    Averages the series in batches of 5 and picks the truncation d (in batches, d <= half the batches) that
    minimises the squared standard error of the remaining batch means, sum((Z_j - Zbar_d)^2) / (m-d)^2.
    Returns d * 5; 0 when there are fewer than 2 batches.
    """
    x = np.asarray(series, dtype=float).ravel()
    m = x.size // MSER_BATCH
    if m < 2:
        return 0
    z = x[: m * MSER_BATCH].reshape(m, MSER_BATCH).mean(axis=1)
    # suffix sums give every candidate truncation at once
    s1 = np.cumsum(z[::-1])[::-1]
    s2 = np.cumsum((z**2)[::-1])[::-1]
    d = np.arange(m // 2 + 1)
    k = m - d
    sse = s2[d] - s1[d] ** 2 / k
    mser = np.maximum(sse, 0.0) / k**2
    return int(d[int(np.argmin(mser))]) * MSER_BATCH


@dataclass(frozen=True)
class Window:
    """A time window ``[start, end)`` in the records' clock (seconds), and how its start was chosen."""

    start: float
    end: float
    warmup_method: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


def steady_window(
    t_sent: ArrayLike,
    t_done: ArrayLike,
    warmup_seconds: float | None = None,
    n_bins: int = 100,
) -> Window:
    """Steady-state window of a load run: warm-up dropped, drain tail cut.

    The drain tail starts at the last send (after it, in-flight requests only drain). The warm-up end is
    ``first send + warmup_seconds`` when configured, otherwise MSER-5 on completions counted in ``n_bins`` equal
    bins between the first and the last send.
    """
    sent = np.asarray(t_sent, dtype=float).ravel()
    done = np.asarray(t_done, dtype=float).ravel()
    if sent.size == 0:
        raise ValueError("no requests")
    first, last = float(sent.min()), float(sent.max())
    if warmup_seconds is not None:
        return Window(min(first + warmup_seconds, last), last, "configured")
    if last <= first:
        return Window(first, last, "none")
    edges = np.linspace(first, last, n_bins + 1)
    counts, _ = np.histogram(done, bins=edges)
    cut = mser5_truncation(counts)
    return Window(float(edges[cut]), last, "mser5")


@dataclass(frozen=True)
class Throughput:
    """Completions in a window: output tokens/s and requests/s."""

    output_tokens_per_s: float
    requests_per_s: float
    n_requests: int
    output_tokens: int
    seconds: float


def window_throughput(t_done: ArrayLike, output_tokens: ArrayLike, start: float, end: float) -> Throughput:
    """Output tokens and requests completed in ``[start, end)`` divided by the window length."""
    done = np.asarray(t_done, dtype=float).ravel()
    tok = np.asarray(output_tokens, dtype=float).ravel()
    if done.size != tok.size:
        raise ValueError("t_done and output_tokens differ in length")
    seconds = end - start
    if seconds <= 0:
        raise ValueError(f"empty window [{start}, {end})")
    inside = (done >= start) & (done < end)
    n = int(inside.sum())
    tokens = int(tok[inside].sum())
    return Throughput(tokens / seconds, n / seconds, n, tokens, seconds)


def batch_means_interval(
    values_per_time: ArrayLike, n_batches: int = 20, confidence: float = 0.95
) -> Interval:
    """Batch-means interval for the mean of a time-ordered series (t with n_batches-1 df).

    The series is split into ``n_batches`` contiguous batches of equal length (a remainder at the start is
    dropped, it is closest to the warm-up).
    """
    check_confidence(confidence)
    if not 10 <= n_batches <= 30:
        raise ValueError(f"n_batches must be between 10 and 30, got {n_batches}")
    x = np.asarray(values_per_time, dtype=float).ravel()
    method = f"batch-means({n_batches})"
    if x.size < n_batches:
        est = float(x.mean()) if x.size else NAN
        return Interval(est, NAN, NAN, method, x.size, confidence, False,
                        f"needs at least {n_batches} values, have {x.size}")
    b = x.size // n_batches
    x = x[x.size - b * n_batches:]
    means = x.reshape(n_batches, b).mean(axis=1)
    est = float(means.mean())
    se = float(means.std(ddof=1)) / math.sqrt(n_batches)
    half = float(stats.t.ppf(0.5 + confidence / 2, n_batches - 1)) * se
    return Interval(est, est - half, est + half, method, x.size, confidence)


@dataclass(frozen=True)
class ThroughputInterval:
    """Window throughput with batch-means intervals (each batch is a sub-window of equal length)."""

    window: Window
    output_tokens_per_s: Interval
    requests_per_s: Interval


def throughput_interval(
    t_done: ArrayLike,
    output_tokens: ArrayLike,
    window: Window,
    confidence: float = 0.95,
    min_batch_s: float = 0.0,
) -> ThroughputInterval:
    """Rates over ``window`` with a batch-means interval: the mean of the bin rates is the window rate.

    The window is cut into equal bins (up to MAX_BINS, each at least ``min_batch_s`` long); the interval is
    `dependent.mean_interval` over the bin rates: few long batches with a Richardson step, so slow drift of the
    target (a correlation of tens of seconds) is in the interval (coverage checked in bench/bench_gate.py).

    Batch means assume batches far apart enough to be nearly independent. Completions of a closed loop come in
    waves one latency apart, so a batch shorter than ``min_batch_s`` (pass the mean latency) holds 0 or a whole
    wave and the interval is wrong (it even crossed zero). The batch count is lowered until every batch spans at
    least ``min_batch_s``; below 10 such batches there is no interval, only the point estimate. A rate is never
    negative, so a lower bound below 0 is clipped (clipping keeps the coverage).
    """
    done = np.asarray(t_done, dtype=float).ravel()
    tok = np.asarray(output_tokens, dtype=float).ravel()
    if window.seconds <= 0:
        raise ValueError("empty window")
    fits = int(window.seconds // min_batch_s) if min_batch_s > 0 else MAX_BINS
    if fits < 10:
        rate = window_throughput(done, tok, window.start, window.end)
        note = (f"window {window.seconds:.1f} s spans fewer than 10 batches of one mean latency "
                f"({min_batch_s * 1000:.0f} ms): too short for a batch-means interval; run more requests")
        return ThroughputInterval(
            window,
            Interval(rate.output_tokens_per_s, NAN, NAN, "batch-means", rate.n_requests, confidence, False, note),
            Interval(rate.requests_per_s, NAN, NAN, "batch-means", rate.n_requests, confidence, False, note),
        )
    n_bins = min(MAX_BINS, fits)
    edges = np.linspace(window.start, window.end, n_bins + 1)
    width = window.seconds / n_bins
    tokens, _ = np.histogram(done, bins=edges, weights=tok)
    counts, _ = np.histogram(done, bins=edges)
    return ThroughputInterval(
        window,
        _non_negative(dependent.mean_interval(tokens / width, confidence)),
        _non_negative(dependent.mean_interval(counts / width, confidence)),
    )


def _non_negative(iv: Interval) -> Interval:
    if not iv.available or iv.low >= 0:
        return iv
    note = "; ".join(t for t in (iv.note, "lower bound clipped at 0") if t)
    return Interval(iv.estimate, 0.0, iv.high, iv.method, iv.n, iv.confidence, iv.available, note)


def mean_in_flight(t_sent: ArrayLike, t_done: ArrayLike, start: float, end: float) -> float:
    """Time-averaged number of requests in flight over ``[start, end)``."""
    sent = np.asarray(t_sent, dtype=float).ravel()
    done = np.asarray(t_done, dtype=float).ravel()
    if end <= start:
        raise ValueError(f"empty window [{start}, {end})")
    overlap = np.clip(np.minimum(done, end) - np.maximum(sent, start), 0.0, None)
    return float(overlap.sum() / (end - start))


@dataclass(frozen=True)
class LittleCheck:
    """Little's law L = lambda * W: measured mean in-flight against rate x mean latency."""

    mean_in_flight: float
    predicted_in_flight: float
    relative_gap: float
    flagged: bool
    tolerance: float = LITTLE_TOLERANCE


def littles_law_check(
    mean_in_flight: float, rate: float, mean_latency: float, tolerance: float = LITTLE_TOLERANCE
) -> LittleCheck:
    """Relative gap |L - lambda W| / L; flagged when above ``tolerance`` (10 %).

    A large gap means the window is not steady (warm-up or drain left in) or latency and rate were measured
    over different sets of requests.
    """
    predicted = rate * mean_latency
    if mean_in_flight > 0:
        gap = abs(mean_in_flight - predicted) / mean_in_flight
    else:
        gap = 0.0 if predicted == 0 else math.inf
    return LittleCheck(mean_in_flight, predicted, gap, bool(gap > tolerance), tolerance)
