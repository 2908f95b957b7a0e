"""Summary figures over several runs: intervals from the spread of the per-run figures (run level), checked
against a known truth by seeded simulations, and each run's steady window counting only its own completions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_helpers import record, write_run
from scipy import stats

from evals.render.report import render_run
from evals.results.metrics import METRICS
from evals.results.summaries import distributions, quantile_of_runs, rate
from evals.results.table import table_from_dicts
from evals.results.throughput import sessions, throughput
from evals.stats.dependent import MIN_RUNS, run_level_interval
from evals.stats.intervals import percentile_interval

RUNS = 3


def drifting_runs(rng: np.random.Generator, groups: int, n: int, between_sd: float) -> np.ndarray:
    """Log-normal latencies (groups, RUNS, n): request noise (sd 0.3) times a per-run level (sd `between_sd`,
    the weather of the stretch a run saw), so the median of the process is 1."""
    level = rng.normal(0, between_sd, (groups, RUNS, 1))
    return np.exp(rng.normal(0, 0.3, (groups, RUNS, n)) + level)


def test_run_level_interval_covers_drift_between_runs() -> None:
    """Runs at different levels (the weather of the stretch each saw): the run-level interval of three runs covers
    the process median about 95 % of the time; the independent-requests interval misses it most of the time."""
    lat = drifting_runs(np.random.default_rng(21), 300, 150, 0.1)
    runs = np.repeat(np.arange(RUNS), 150)
    run_level = independent = 0
    for group in lat:
        pooled = group.ravel()
        iv = quantile_of_runs(pooled, 0.5, runs)
        assert iv.method.startswith("run level")
        run_level += iv.low <= 1.0 <= iv.high
        naive = percentile_interval(pooled, 0.5)
        independent += naive.low <= 1.0 <= naive.high
    assert 0.92 <= run_level / 300 <= 0.98
    assert independent / 300 < 0.8


def test_run_level_interval_is_t_on_the_per_run_figures() -> None:
    per_run = np.array([10.0, 12.0, 11.0])
    iv = run_level_interval(per_run, 11.0)
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(R)
    assert (iv.low, iv.high) == pytest.approx((11.0 - half, 11.0 + half))
    log_iv = run_level_interval(per_run, 11.0, log=True)
    assert log_iv.low * log_iv.high == pytest.approx(11.0**2)  # symmetric on the log scale
    assert "3 per-run figures" in log_iv.method and "log scale" in log_iv.method
    assert not run_level_interval([10.0], 10.0).available
    assert not run_level_interval([10.0, math.inf, 9.0], 10.0).available
    assert not run_level_interval([10.0, 0.0, 9.0], 10.0, log=True).available


def _records(run_id: str, latencies: np.ndarray, concurrency: int = 4, tokens: int = 10) -> list[dict[str, Any]]:
    """A closed loop of `concurrency` workers: each sends its next request when the last one finished."""
    clock = np.zeros(concurrency)
    out = []
    for i, lat in enumerate(latencies):
        w = int(np.argmin(clock))
        sent = float(clock[w])
        clock[w] = sent + float(lat)
        out.append({"run_id": run_id, "request_id": f"{run_id}-{i}", "sample_id": f"s{i}", "status": "ok",
                    "warmup": False, "t_sent_ms": sent, "t_done_ms": sent + float(lat), "latency_ms": float(lat),
                    "output_tokens": tokens})
    return out


def test_summaries_of_three_runs_are_run_level_and_of_fewer_within_run() -> None:
    rng = np.random.default_rng(5)
    recs = [r for k in range(RUNS) for r in _records(f"run-{k}", 1000 * np.exp(rng.normal(0.1 * k, 0.3, 300)))]
    three = table_from_dicts(recs)
    lat = distributions(three, ("latency_ms",))["latency_ms"]
    assert lat is not None
    assert lat["p50"].method == "run level (t on 3 per-run figures, log scale)"
    assert lat["p99"].method.startswith("order-statistic")  # 300 values per run cannot give a per-run p99
    assert "3 runs, but one has too few values for a per-run p99: within-run interval" in lat["p99"].note
    tp = throughput(three, sessions(three))
    assert tp.output_tokens_per_s is not None and tp.output_tokens_per_s.method.startswith("run level")
    assert "run level" in tp.note
    two = table_from_dicts(recs[:600])
    lat2 = distributions(two, ("latency_ms",))["latency_ms"]
    assert lat2 is not None and lat2["p50"].method.startswith("order-statistic") and MIN_RUNS == 3
    tp2 = throughput(two, sessions(two))
    assert tp2.output_tokens_per_s is not None and tp2.output_tokens_per_s.method.startswith("batch means")


def test_runs_laid_end_to_end_count_only_their_own_windows() -> None:
    """Three runs reported together: the pooled rate is every run's completions in its own steady window over
    the windows' summed length. Before each window kept only its own completions, a run's drain (the requests
    finishing after its last send) landed in the next run's window and that run's warm-up in this one's: the
    pooled rate of these runs read 4.4 % high."""
    rng = np.random.default_rng(8)
    per_run = [_records(f"run-{k}", 1000 * np.exp(rng.normal(0, 0.3, 120))) for k in range(RUNS)]
    table = table_from_dicts([r for recs in per_run for r in recs])
    tp = throughput(table, sessions(table))
    alone = [throughput(t, sessions(t)) for t in map(table_from_dicts, per_run)]
    assert tp.windows == RUNS and tp.seconds == pytest.approx(sum(a.seconds for a in alone))
    for figure in ("requests_per_s", "output_tokens_per_s"):
        pooled = getattr(tp, figure)
        assert pooled is not None and pooled.method.startswith("run level")
        expected = sum(getattr(a, figure).estimate * a.seconds for a in alone) / tp.seconds
        assert pooled.estimate == pytest.approx(expected, rel=1e-9)


AWS = {"kind": "aws", "emulator": False}


def _report(tmp_path: Path, runs: int, sweep: bool = False, **info: Any) -> tuple[dict[str, Any], str]:
    """`runs` runs of one cell; with `sweep`, each at its own concurrency (a multirun over load.concurrency)."""
    rng = np.random.default_rng(3)
    dirs = []
    for k in range(runs):
        recs = [record(request_id=f"r{k}-{i}", index=i, sample_id=f"s{i}", **_timing(r))
                for i, r in enumerate(_records(f"run-{k}", 1000 * np.exp(rng.normal(0, 0.3, 150))))]
        if sweep:
            info["config"] = {"load": {"strategy": "closed", "concurrency": 2**k}, "run": {"seed": 7}}
        dirs.append(write_run(tmp_path / "runs", f"run-{k}", recs, **info))
    out = tmp_path / "report"
    render_run(dirs, out_dir=out, formats=())
    return json.loads((out / "summary.json").read_text()), (out / "report.html").read_text()


def _timing(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("t_sent_ms", "t_done_ms", "latency_ms")}


def test_report_of_one_cloud_run_says_its_intervals_are_within_run(tmp_path: Path) -> None:
    summary, html = _report(tmp_path / "one", 1, target=AWS)
    assert summary["headline"]["within_run_cells"] == 1 == summary["headline"]["cells"]
    assert 'id="within-run"' in html and "cannot see drift between runs" in html
    assert summary["cells"][0]["latency_ms"]["p50"]["method"].startswith("order-statistic")
    summary, html = _report(tmp_path / "three", 3, target=AWS)
    assert summary["headline"]["within_run_cells"] == 0 and 'id="within-run"' not in html
    cell = summary["cells"][0]
    assert cell["latency_ms"]["p50"]["method"] == "run level (t on 3 per-run figures, log scale)"
    assert cell["throughput"]["output_tokens_per_s"]["method"].startswith("run level")
    summary, html = _report(tmp_path / "sweep", 3, sweep=True, target=AWS)  # three loads are not three repeats
    assert summary["sweep"] is not None and summary["headline"]["within_run_cells"] == 1
    cell = summary["cells"][0]
    assert cell["latency_ms"]["p50"]["method"].startswith("order-statistic")
    assert cell["throughput"]["output_tokens_per_s"]["method"].startswith("batch means")
    summary, html = _report(tmp_path / "emulated", 1)  # the emulator does not drift: no banner
    assert summary["headline"]["within_run_cells"] == 0 and 'id="within-run"' not in html


def test_summary_error_rate_widens_for_errors_in_storms() -> None:
    """60 errors in 600 requests: spread out, the exact binomial interval; in three storms, an interval as wide
    as the design effect of the storms says (Kish's effective count), noted as such."""
    def table(errors: np.ndarray) -> Any:
        return table_from_dicts([{"run_id": "r", "request_id": f"q{i}", "status": "error" if e else "ok",
                                  "warmup": False, "t_sent_ms": float(i), "t_done_ms": i + 1.0,
                                  "latency_ms": 1.0} for i, e in enumerate(errors)])
    spread = np.zeros(600, bool)
    spread[::10] = True
    storms = np.zeros(600, bool)
    for start in (50, 300, 500):
        storms[start:start + 20] = True
    calm, stormy = rate(METRICS["error_rate"], table(spread)), rate(METRICS["error_rate"], table(storms))
    exact = stats.binomtest(60, 600).proportion_ci(0.95, method="exact")
    assert (calm.low, calm.high) == pytest.approx((exact.low, exact.high)) and calm.note == ""
    assert calm.estimate == stormy.estimate == 0.1
    assert stormy.high - stormy.low > 2 * (calm.high - calm.low) and "design effect" in stormy.note
