"""Report rendering from synthetic run directories: numbers, greying, errors, merging, CLI, exports, atomicity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from report_helpers import record, write_run
from scipy import stats

from evals import cli
from evals.errors import UserInputError
from evals.render.report import render as render_mod
from evals.render.report import render_run


def _cell(summary: dict, **key: str) -> dict:
    rows = [c for c in summary["cells"] if all(c["key"][k] == v for k, v in key.items())]
    assert len(rows) == 1, rows
    return rows[0]


def _small_run(tmp_path: Path) -> Path:
    """10 scored successes (7 right) and 2 errors, one throttled and one carrying a stray score of 0."""
    lat = [100.0, 120.0, 90.0, 300.0, 150.0, 110.0, 95.0, 130.0, 140.0, 105.0]
    scores = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1]
    recs = [record(request_id=f"r{i}", index=i, sample_id=f"s{i}", t_sent_ms=i * 100.0,
                   t_done_ms=i * 100.0 + lat[i], latency_ms=lat[i], score=float(scores[i]),
                   cost_usd=0.002, output_tokens=4 + i)
            for i in range(10)]
    recs.append(record(request_id="e1", index=10, sample_id="s10", status="error", error_code="ThrottlingException",
                       error_class="throttle", error_message="Too many requests", throttles=3, attempts=3,
                       latency_ms=900.0, t_sent_ms=1000.0, t_done_ms=1900.0))
    recs.append(record(request_id="e2", index=11, sample_id="s11", status="error", error_code="ModelTimeoutException",
                       error_class="transient", error_message="timed out", latency_ms=50.0, score=0.0,
                       t_sent_ms=1100.0, t_done_ms=1150.0))
    recs.append(record(request_id="w1", index=12, sample_id="s12", warmup=True, latency_ms=5000.0, score=0.0))
    return write_run(tmp_path, "run-small", recs)


def test_summary_matches_hand_computed_figures(tmp_path: Path) -> None:
    run = _small_run(tmp_path)
    report = render_run([run])
    assert report == run / "report.html"
    summary = json.loads((run / "summary.json").read_text())
    cell = _cell(summary, region="us-east-1")
    assert cell["counts"] == {"requests": 12, "ok": 10, "errors": 2, "throttled": 1, "retried": 1,
                              "backoff_ms_total": 0.0, "scored": 10}
    assert summary["totals"]["warmup"] == 1  # the warm-up request is in no statistic
    # accuracy over the 10 scored successes only: errors are not wrong answers, even with a stray score
    ci = stats.binomtest(7, 10).proportion_ci(method="wilson")
    assert cell["score"]["estimate"] == pytest.approx(0.7)
    assert (cell["score"]["low"], cell["score"]["high"]) == pytest.approx((ci.low, ci.high))
    assert cell["score"]["method"] == "wilson" and cell["score"]["n"] == 10
    assert cell["error_rate"]["estimate"] == pytest.approx(2 / 12)
    lat = [100.0, 120.0, 90.0, 300.0, 150.0, 110.0, 95.0, 130.0, 140.0, 105.0]
    assert cell["latency_ms"]["p50"]["estimate"] == pytest.approx(float(np.quantile(lat, 0.5)))
    assert cell["cost"]["total_usd"] == pytest.approx(0.02)
    assert cell["cost"]["per_1k_requests_usd"] == pytest.approx(0.02 / 12 * 1000)
    assert cell["cost"]["per_correct_usd"] == pytest.approx(0.02 / 7)
    assert cell["output_tokens"]["total"] == sum(4 + i for i in range(10))
    codes = {e["code"]: e for e in summary["errors_by_code"]}
    assert codes["ThrottlingException"]["count"] == 1 and codes["ThrottlingException"]["class"] == "throttle"
    assert codes["ModelTimeoutException"]["examples"] == ["timed out"]
    html = report.read_text()
    assert "Errors are never counted as wrong answers" in html
    assert "This run was served by the local emulator, not Amazon Bedrock." in html


def test_small_samples_grey_percentiles_with_the_reason(tmp_path: Path) -> None:
    run = _small_run(tmp_path)
    render_run([run])
    cell = _cell(json.loads((run / "summary.json").read_text()), region="us-east-1")
    for label, need in (("p50", 20), ("p90", 100), ("p99", 1000)):
        iv = cell["latency_ms"][label]
        assert iv["available"] is False and iv["low"] is None
        assert iv["note"] == f"needs n >= {need} for {label}, have 10"
    html = (run / "report.html").read_text()
    assert '<td class="na" title="needs n &gt;= 1000 for p99, have 10">' in html


def test_large_samples_give_order_statistic_intervals(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lat = rng.lognormal(5, 0.4, 400)
    recs = [record(request_id=f"r{i}", index=i, sample_id=f"s{i}", latency_ms=float(v), t_sent_ms=i * 10.0,
                   t_done_ms=i * 10.0 + float(v)) for i, v in enumerate(lat)]
    run = write_run(tmp_path, "run-big", recs)
    render_run([run], formats=())
    cell = _cell(json.loads((run / "summary.json").read_text()), region="us-east-1")
    p90 = cell["latency_ms"]["p90"]
    ci = stats.quantile_test(lat, q=float(np.quantile(lat, 0.9)), p=0.9).confidence_interval()
    # never narrower than the distribution-free interval of independent requests (widened for correlation)
    assert p90["available"] and p90["low"] <= ci.low + 1e-9 and p90["high"] >= ci.high - 1e-9
    assert not cell["latency_ms"]["p99"]["available"]
    tp = cell["throughput"]
    assert tp["available"] and tp["requests_per_s"]["estimate"] > 0
    assert not (run / "records.csv").exists()  # formats=() writes no export


def test_repeats_use_clustered_interval(tmp_path: Path) -> None:
    recs = [record(request_id=f"r{i}-{rep}", index=i * 3 + rep, sample_id=f"s{i}", cluster=f"s{i}", repeat=rep,
                   score=float((i + rep) % 3 != 0)) for i in range(20) for rep in range(3)]
    run = write_run(tmp_path, "run-rep", recs)
    render_run([run], formats=())
    score = _cell(json.loads((run / "summary.json").read_text()), region="us-east-1")["score"]
    assert score["method"] == "clustered-se" and score["clusters"] == 20 and score["repeats"] == pytest.approx(3)


def _region_run(parent: Path, run_id: str, region: str, scale: float, right: int, n: int = 120) -> Path:
    rng = np.random.default_rng(len(region) + int(scale * 10))
    lat = rng.lognormal(5, 0.3, n) * scale
    recs = [record(request_id=f"{region}-{i}", index=i, sample_id=f"s{i}", region=region, latency_ms=float(v),
                   t_sent_ms=i * 20.0, t_done_ms=i * 20.0 + float(v), score=float(i < right))
            for i, v in enumerate(lat)]
    return write_run(parent, run_id, recs, cells={"apis": ["converse"], "regions": [region], "tiers": ["default"]})


def test_merged_report_of_two_runs_compares_regions(tmp_path: Path) -> None:
    a = _region_run(tmp_path, "run-east", "us-east-1", 1.0, right=100)
    b = _region_run(tmp_path, "run-west", "us-west-2", 2.0, right=100)
    report = render_run([a, b])
    assert report.parent.parent == tmp_path and report.parent.name.startswith("merged-2runs-")
    assert render_run([b, a]) == report  # the same set of runs always lands in the same place
    summary = json.loads((report.parent / "summary.json").read_text())
    assert [r["run_id"] for r in summary["runs"]] == ["run-west", "run-east"]
    assert len(summary["cells"]) == 2
    (row,) = summary["comparisons"]["region"]
    assert (row["reference"], row["other"]) == ("us-east-1", "us-west-2")
    assert row["reference_from"] == "configured order"
    ratio = row["latency"]["ratio"]
    assert 1.8 < ratio["estimate"] < 2.2 and ratio["low"] > 1.0 and row["p_adjusted"]["latency"] < 0.05
    assert "% slower: worse" in row["verdict"]["latency"]
    acc = row["accuracy"]
    assert acc["pairs"] == 120 and acc["estimate"] == 0.0 and acc["discordant"] == {"base_only": 0, "other_only": 0}
    assert acc["margin"] == 0.03 and acc["verdict"] in ("within the margin", "inconclusive")
    assert {r["path"] for r in summary["runs"]} == {str(a), str(b)}
    assert (report.parent / "records.parquet").exists()
    assert pq.read_table(report.parent / "records.parquet").num_rows == 240


def test_equal_regions_with_few_samples_say_so(tmp_path: Path) -> None:
    a = _region_run(tmp_path, "run-a", "us-east-1", 1.0, right=3, n=6)
    b = _region_run(tmp_path, "run-b", "us-west-2", 1.2, right=2, n=6)  # another draw (seed), 20 % slower
    summary = json.loads((render_run([a, b], tmp_path / "out").parent / "summary.json").read_text())
    (row,) = summary["comparisons"]["region"]
    # six items cannot place a noisy change against a 10 % margin, nor a 17-point one against 3 points
    assert ": inconclusive (margin 10 %)" in row["verdict"]["latency"]
    assert ": inconclusive (margin 3 points)" in row["verdict"]["accuracy"]


def test_cli_renders_and_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _small_run(tmp_path)
    out = tmp_path / "elsewhere"
    assert cli.main(["report", str(run), "--out", str(out), "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    assert sorted(p.name for p in out.iterdir()) == ["records.csv", "report.html", "summary.json"]
    missing = tmp_path / "nope"
    assert cli.main(["report", str(missing), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {missing}: no such run directory"
    assert not (tmp_path / "o2").exists()
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    assert cli.main(["report", str(not_a_run)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert list(not_a_run.iterdir()) == []
    assert cli.main(["report", str(run), "--format", "xlsx"]) == 2
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert cli.main(["report", str(run), "--out", str(a_file)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    with pytest.raises(UserInputError):
        render_run([run, missing])


def test_failure_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _small_run(tmp_path)
    before = sorted(p.name for p in run.iterdir())

    def boom(context: object) -> str:
        raise RuntimeError("template failed")

    import evals.render.report as report_pkg

    monkeypatch.setattr(report_pkg, "render_html", boom)
    with pytest.raises(RuntimeError):
        render_run([run])
    assert sorted(p.name for p in run.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run-small"]  # no staging directory left behind


def test_exports_keep_types_and_defuse_formulas(tmp_path: Path) -> None:
    recs = [record(request_id="r0", response_text="=HYPERLINK(\"http://x\")", itl_ms=[1.5, 2.5],
                   api="converse_stream", scores={"exact": 1.0, "f1": 0.5}),
            record(request_id="r1", index=1, sample_id="s1", status="error", error_code="X",
                   error_message="@SUM(A1)")]
    run = write_run(tmp_path, "run-x", recs)
    render_run([run])
    table = pq.read_table(run / "records.parquet").to_pylist()
    assert table[0]["response_text"] == "=HYPERLINK(\"http://x\")" and table[0]["itl_ms"] == [1.5, 2.5]
    assert dict(table[0]["scores"]) == {"exact": 1.0, "f1": 0.5}
    csv_text = (run / "records.csv").read_text()
    assert "'=HYPERLINK" in csv_text and "'@SUM(A1)" in csv_text


def test_status_and_client_bound_banners(tmp_path: Path) -> None:
    run = write_run(tmp_path, "run-b", [record()], status="budget-stopped", stop_detail="max_cost_usd reached",
                    flags={"send_lag_p99_ms": 250.0, "client_bound": True},
                    target={"kind": "aws", "auth": "sigv4"}, resumes=[{"at": "2026-01-01T00:05:00+00:00"}])
    html = render_run([run]).read_text()
    assert "Run run-b is budget-stopped (max_cost_usd reached)." in html
    assert "Run run-b was client-bound." in html
    assert "Run run-b was resumed 1×." in html
    assert "served by the local emulator" not in html


def test_formatting_helpers() -> None:
    assert render_mod.num(None) == "—" and render_mod.num(1234.5) == "1,234" and render_mod.num(3) == "3"
    assert render_mod.num(math.nan) == "—"
    assert render_mod.pct(0.1234) == "12.3 %"
    assert render_mod.bounds({"low": 1.0, "high": 2.0}) == "[1.0, 2.0]"
    assert render_mod.bounds({"low": None, "high": 2.0}) == ""
    assert render_mod.pvalue(0.0001) == "< 0.001"


def test_clustered_interval_stays_inside_zero_one(tmp_path: Path) -> None:
    recs = [record(request_id=f"r{i}-{rep}", index=i * 2 + rep, sample_id=f"s{i}", cluster=f"s{i}", repeat=rep,
                   score=float(i < 3)) for i in range(7) for rep in range(2)]
    run = write_run(tmp_path, "run-clip", recs)
    render_run([run], formats=())
    score = _cell(json.loads((run / "summary.json").read_text()), region="us-east-1")["score"]
    assert score["method"] == "clustered-se" and score["low"] == 0.0 and 0.4 < score["high"] < 1.0
    assert "clipped to [0, 1]" in score["note"]


def test_run_without_records_still_renders(tmp_path: Path) -> None:
    run = write_run(tmp_path, "run-empty", [], status="interrupted")
    html = render_run([run]).read_text()
    assert "No plottable data." in html and "No request failed." in html
    assert "Run run-empty is interrupted." in html
    summary = json.loads((run / "summary.json").read_text())
    assert summary["cells"] == [] and summary["totals"]["measured"] == 0
    assert pq.read_table(run / "records.parquet").num_rows == 0


def test_sweep_levels_get_their_own_rows_and_pairing(tmp_path: Path) -> None:
    recs = []
    for api in ("converse", "invoke"):
        for level in (1.0, 8.0):
            for i in range(25):
                start = (0.0 if level == 1.0 else 10_000.0) + i * 100.0
                lat = 100.0 * level ** 0.5 + i
                recs.append(record(request_id=f"{api}-{level}-{i}", index=len(recs), sample_id=f"s{i}", api=api,
                                   load_level=level, latency_ms=lat, t_sent_ms=start, t_done_ms=start + lat))
    run = write_run(tmp_path, "run-sweep", recs)
    render_run([run], formats=())
    summary = json.loads((run / "summary.json").read_text())
    levels = [(row["key"]["api"], row["level"], row["requests"]) for row in summary["load_levels"]]
    assert levels == [("converse", 1.0, 25), ("converse", 8.0, 25), ("invoke", 1.0, 25), ("invoke", 8.0, 25)]
    low = summary["load_levels"][0]["latency_ms"]["p50"]
    assert low["estimate"] == pytest.approx(float(np.quantile([100.0 + i for i in range(25)], 0.5)))
    (row,) = summary["comparisons"]["api"]
    # the item is the unit: its two sweep levels are averaged, not counted as two independent pairs
    assert row["latency"]["paired"] and row["latency"]["pairs"] == 25
    assert row["accuracy"]["pairs"] == 25
    html = (run / "report.html").read_text()
    assert "plot-sweep" in html and "Knee at concurrency 8.0" in html
    sweep = summary["sweep"]
    assert [r["level"] for r in sweep["rows"]] == [1.0, 8.0] and sweep["knee"]["level"] == 8.0
    assert "p90 latency" in sweep["knee"]["reasons"][0]
    assert sweep["max_sustainable"]["level"] == 1.0


def _closed_level(level: int, requests: int, start_ms: float, latency_ms: float) -> list[dict]:
    """A closed loop of `level` workers: each sends its next request when the previous one returns."""
    out = []
    for i in range(requests):
        wave, _ = divmod(i, level)
        sent = start_ms + wave * latency_ms + (i % level) * 0.01
        out.append(record(request_id=f"l{level}-{i}", sample_id=f"s{i % 16}", load_level=float(level),
                          latency_ms=latency_ms, t_sent_ms=sent, t_done_ms=sent + latency_ms, output_tokens=10))
    return out


def test_sweep_rate_is_positive_at_every_level_with_non_negative_intervals(tmp_path: Path) -> None:
    """At concurrency 64 with 64 requests every request is sent at once: the window up to the last send held no
    completion and the rate read 0.00 [0.00, 0.00]. The full span gives 64 requests / 0.9 s."""
    recs = []
    for n, level in enumerate((1, 4, 16, 64)):
        recs += _closed_level(level, 64, n * 100_000.0, 900.0)
    for i, r in enumerate(recs):
        r["index"] = i
    run = write_run(tmp_path, "run-sweep64", recs, config={"load": {"strategy": "sweep", "sweep_of": "concurrency"}})
    render_run([run], formats=())
    rows = json.loads((run / "summary.json").read_text())["sweep"]["rows"]
    rates = {r["level"]: r["throughput"]["requests_per_s"] for r in rows}
    for level, rate in rates.items():
        assert rate["estimate"] == pytest.approx(level / 0.9, rel=0.1), level  # lock-step waves: edge effects
        assert rate["low"] is None or 0 <= rate["low"] <= rate["estimate"] <= rate["high"]
    assert rates[64.0]["method"] == "full span" and not rates[64.0]["available"]


def test_without_pyarrow_the_report_renders_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evals.render.report as report_pkg

    note = "pyarrow is not installed: records were not exported (pip install pyarrow)"
    monkeypatch.setattr(report_pkg, "pyarrow_missing", lambda: note)
    run = _small_run(tmp_path)
    html = render_run([run]).read_text()
    assert note in html
    assert not (run / "records.csv").exists() and not (run / "records.parquet").exists()


def test_a_directory_of_runs_stands_for_all_of_them(tmp_path: Path) -> None:
    _region_run(tmp_path, "run-east", "us-east-1", 1.0, right=100, n=30)
    _region_run(tmp_path, "run-west", "us-west-2", 1.0, right=100, n=30)
    (tmp_path / "notes").mkdir()
    first = render_run([tmp_path])
    assert first.parent.parent == tmp_path and first.parent.name.startswith("merged-2runs-")
    assert render_run([tmp_path]) == first  # the merged report beside the runs is not taken for a run
    summary = json.loads((first.parent / "summary.json").read_text())
    assert sorted(r["run_id"] for r in summary["runs"]) == ["run-east", "run-west"]
    with pytest.raises(UserInputError, match="not a run directory"):
        render_run([tmp_path / "notes"])


def test_merged_runs_repeating_items_pair_by_item(tmp_path: Path) -> None:
    runs = [_region_run(tmp_path, f"run-{region}-{seed}", region, 1.0 + seed, right=10, n=12)
            for seed in (0, 1) for region in ("us-east-1", "us-west-2")]
    summary = json.loads((render_run(runs, tmp_path / "out").parent / "summary.json").read_text())
    (row,) = summary["comparisons"]["region"]
    # each item's two runs are averaged per arm: 12 items, not 24 pairs treated as independent
    assert row["latency"]["pairs"] == 12 and row["accuracy"]["pairs"] == 12


# ------------------------------------------------------------------ resumed runs, references, pairing, exports


def test_resumed_run_throughput_excludes_the_downtime_between_sessions(tmp_path: Path) -> None:
    """Two sessions of 10 s at 20 requests/s, 1,000 s apart: each session gets its own steady window."""
    recs = []
    for session, start in ((0, 0.0), (1, 1_000_000.0)):
        for i in range(200):
            t = start + i * 50.0
            recs.append(record(request_id=f"r{session}-{i}", index=len(recs), sample_id=f"s{i}", session=session,
                               t_sent_ms=t, t_done_ms=t + 100.0, latency_ms=100.0, output_tokens=10))
    run = write_run(tmp_path, "run-resumed", recs, resumes=[{"at": "2026-01-01T00:16:40+00:00"}])
    render_run([run], formats=())
    tp = _cell(json.loads((run / "summary.json").read_text()), region="us-east-1")["throughput"]
    assert tp["available"] and tp["windows"] == 2
    assert tp["window_seconds"] < 25  # two ~10 s windows, not the 1,010 s span
    assert tp["requests_per_s"]["estimate"] == pytest.approx(20.0, rel=0.1)
    assert tp["output_tokens_per_s"]["estimate"] == pytest.approx(200.0, rel=0.1)
    assert "summed length" in tp["note"]


def _two_region_run(parent: Path, run_id: str, configured: list[str] | None, slow: str) -> Path:
    rng = np.random.default_rng(3)
    recs = []
    for region in ("us-east-1", "us-west-2"):
        for i in range(60):
            lat = float(rng.lognormal(5, 0.2)) * (2.0 if region == slow else 1.0)
            recs.append(record(request_id=f"{region}-{i}", index=len(recs), sample_id=f"s{i}", region=region,
                               latency_ms=lat, t_sent_ms=i * 20.0, t_done_ms=i * 20.0 + lat))
    cells = {"apis": ["converse"], "regions": configured, "tiers": ["default"]} if configured else {}
    return write_run(parent, run_id, recs, cells=cells)


def test_comparisons_use_the_configured_reference_not_the_fastest(tmp_path: Path) -> None:
    # configured order puts the slow region first: it is the reference, and the other region is faster
    run = _two_region_run(tmp_path, "run-ref", ["us-west-2", "us-east-1"], slow="us-west-2")
    render_run([run], formats=())
    summary = json.loads((run / "summary.json").read_text())
    (row,) = summary["comparisons"]["region"]
    assert (row["reference"], row["other"], row["reference_from"]) == ("us-west-2", "us-east-1", "configured order")
    assert "best" not in row and set(row["geomean_ms"]) == {"reference", "other"}
    assert row["latency"]["ratio"]["estimate"] < 0.6 and "% faster: better" in row["verdict"]["latency"]
    html = (run / "report.html").read_text()
    assert "against the best" not in html and "reference" in html
    # nothing configured: the first level in sorted order, whichever is faster
    other = _two_region_run(tmp_path, "run-sorted", None, slow="us-east-1")
    render_run([other], formats=())
    (row,) = json.loads((other / "summary.json").read_text())["comparisons"]["region"]
    assert (row["reference"], row["reference_from"]) == ("us-east-1", "sorted order")
    assert row["latency"]["ratio"]["estimate"] < 0.6


def _arms_by_item(repeats: int, right: dict[str, int], mixed: bool = False, items: int = 30) -> list[dict]:
    recs = []
    for region, n_right in right.items():
        for i in range(items):
            for rep in range(repeats):
                score = float(i < n_right) if not (mixed and i % 3 == 0) else float(rep % 2)
                lat = 100.0 + i + rep + (50.0 if region == "us-west-2" else 0.0)
                recs.append(record(request_id=f"{region}-{i}-{rep}", index=len(recs), sample_id=f"s{i}",
                                   region=region, repeat=rep, score=score, latency_ms=lat,
                                   t_sent_ms=len(recs) * 10.0, t_done_ms=len(recs) * 10.0 + lat))
    return recs


def _six_region_runs(parent: Path) -> list[Path]:
    """Six interleaved runs of two regions and two APIs; us-west-2 about 11 % slower with run-to-run drift."""
    rng = np.random.default_rng(7)
    runs = []
    for k in range(6):
        drift = float(rng.lognormal(0, 0.04))
        recs = []
        for api in ("converse", "invoke"):
            for region in ("us-east-1", "us-west-2"):
                for i in range(40):
                    lat = float(rng.lognormal(6, 0.25)) * drift * (1.11 if region == "us-west-2" else 1.0)
                    t = len(recs) * 25.0
                    recs.append(record(request_id=f"{api}-{region}-{i}", index=len(recs), sample_id=f"s{i}",
                                       region=region, api=api, latency_ms=lat, t_sent_ms=t, t_done_ms=t + lat,
                                       score=float(rng.random() < (0.7 if region == "us-east-1" else 0.66))))
        runs.append(write_run(parent, f"run-{k}", recs, cells={"apis": ["converse", "invoke"],
                                                               "regions": ["us-east-1", "us-west-2"],
                                                               "tiers": ["default"]}))
    return runs


def test_report_and_compare_by_region_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The merged report's region comparison and `compare --by region` on the same runs: one engine, one verdict,
    the same interval and adjusted p in every group."""
    runs = _six_region_runs(tmp_path)
    report = render_run(runs, tmp_path / "merged", formats=())
    rows = json.loads((report.parent / "summary.json").read_text())["comparisons"]["region"]
    out = tmp_path / "cmp"
    assert cli.main(["compare", *map(str, runs), "--by", "region", "--base", "us-east-1", "--cand", "us-west-2",
                     "--out", str(out), "--metrics", "latency,accuracy"]) == 0
    capsys.readouterr()
    cells = {c["cell"]["api"]: {m["metric"]: m for m in c["metrics"]}
             for c in json.loads((out / "compare.json").read_text())["cells"]}
    assert sorted(cells) == sorted(r["fixed"]["api"] for r in rows) == ["converse", "invoke"]
    for row in rows:
        assert (row["reference"], row["other"]) == ("us-east-1", "us-west-2")
        got = cells[row["fixed"]["api"]]
        for metric, mine in (("latency", row["latency"]["ratio"]), ("accuracy", row["accuracy"])):
            theirs = got[metric]
            assert mine["verdict"] == theirs["verdict"] and mine["words"] == theirs["words"]
            assert row["verdict"][metric] == theirs["words"]
            for key in ("estimate", "low", "high", "p_adjusted", "unit_of_analysis", "method"):
                assert mine[key] == pytest.approx(theirs[key]) if isinstance(mine[key], float) else \
                    mine[key] == theirs[key], (metric, key)
        assert row["latency"]["ratio"]["unit_of_analysis"] == "runs"  # six runs per arm: run-level
        assert "slower" in row["verdict"]["latency"]


def test_report_accuracy_pairs_by_item_like_compare(tmp_path: Path) -> None:
    """4 repeats per item with item-level correctness: 30 items paired, 6 discordant, not 120 independent pairs."""
    run = write_run(tmp_path, "run-items", _arms_by_item(4, {"us-east-1": 20, "us-west-2": 14}))
    render_run([run], formats=())
    (row,) = json.loads((run / "summary.json").read_text())["comparisons"]["region"]
    acc = row["accuracy"]
    assert acc["paired"] and acc["pairs"] == 30 and acc["discordant"] == {"base_only": 6, "other_only": 0}
    assert acc["estimate"] == pytest.approx(-0.2) and acc["unit_of_analysis"] == "items (paired)"
    assert row["latency"]["pairs"] == 30


def test_report_accuracy_with_mixed_repeats_is_a_mean_score_of_items(tmp_path: Path) -> None:
    run = write_run(tmp_path, "run-mixed", _arms_by_item(2, {"us-east-1": 20, "us-west-2": 14}, mixed=True))
    render_run([run], formats=())
    (row,) = json.loads((run / "summary.json").read_text())["comparisons"]["region"]
    acc = row["accuracy"]
    assert acc["pairs"] == 30 and acc["kind"] == "mean score" and acc["paired"]


def test_report_pairs_the_shared_items_and_counts_the_rest(tmp_path: Path) -> None:
    """17 of 20 items shared: both arms are cut to the shared items (the engine's rule) and the rest counted."""
    recs = _arms_by_item(1, {"us-east-1": 10}, items=20)
    for i, rec in enumerate(_arms_by_item(1, {"us-west-2": 10}, items=20)):
        sample = f"s{i}" if i < 17 else f"t{i}"
        recs.append(dict(rec, sample_id=sample, index=100 + i))
    run = write_run(tmp_path, "run-overlap", recs)
    render_run([run], formats=())
    (row,) = json.loads((run / "summary.json").read_text())["comparisons"]["region"]
    assert row["latency"]["paired"] and row["latency"]["pairs"] == 17 and row["latency"]["ratio"]["dropped"] == 6
    assert row["accuracy"]["paired"] and row["accuracy"]["pairs"] == 17 and row["accuracy"]["dropped"] == 6


def test_csv_export_defuses_formulas_in_prompts_and_service_text(tmp_path: Path) -> None:
    import csv

    starts = ("=1+1", "+SUM(A1)", "-2+3", "@cmd")
    recs = [record(request_id=f"r{i}", index=i, sample_id=f"s{i}", prompt=p, stop_reason=p, model_id=p,
                   score_error=p) for i, p in enumerate(starts)]
    recs.append(record(request_id="e", index=9, sample_id="=s9", status="error", error_code="=X"))
    run = write_run(tmp_path, "run-csv", recs)
    render_run([run], formats=("csv",))
    with (run / "records.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row, text in zip(rows, starts, strict=False):
        for field in ("prompt", "stop_reason", "model_id", "score_error"):
            assert row[field] == "'" + text, (field, row[field])
    assert rows[-1]["error_code"] == "'=X" and rows[-1]["sample_id"] == "'=s9"
    assert rows[0]["session"] in ("", "0")


def test_merging_runs_of_different_models_or_targets_needs_a_flag(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    a = _region_run(tmp_path, "run-a", "us-east-1", 1.0, right=3, n=6)
    b = write_run(tmp_path, "run-b", [record(request_id=f"r{i}", index=i, sample_id=f"s{i}", model_id="other")
                                      for i in range(6)], model={"model_id": "other-model"},
                  target={"kind": "aws", "emulator": False})
    out = tmp_path / "merged"
    assert cli.main(["report", str(a), str(b), "--out", str(out), "--format", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "differ in model:" in err and "--allow-mixed" in err and "\n" not in err and not out.exists()
    assert cli.main(["report", str(a), str(b), "--out", str(out), "--format", "none", "--allow-mixed"]) == 0
    err = capsys.readouterr().err
    assert "warning: merged runs differ in model:" in err and "warning: merged runs differ in target:" in err
    assert (out / "report.html").exists()


def test_runs_each_at_their_own_concurrency_form_one_sweep_curve(tmp_path: Path) -> None:
    """A multirun over load.concurrency gives one run per level; merged, they are one sweep."""
    runs = []
    for level in (1, 8):
        recs = _closed_level(level, 64, 0.0, 400.0 * (1 if level == 1 else 3))
        for i, r in enumerate(recs):
            r.update(index=i, load_level=None)
        runs.append(write_run(tmp_path, f"run-c{level}", recs,
                              config={"load": {"strategy": "closed", "concurrency": level}}))
    render_run(runs, out_dir=tmp_path / "merged", formats=())
    sweep = json.loads((tmp_path / "merged" / "summary.json").read_text())["sweep"]
    assert sweep["of"] == "concurrency" and [r["level"] for r in sweep["rows"]] == [1.0, 8.0]
    assert sweep["knee"]["level"] == 8.0 and "p90 latency" in sweep["knee"]["reasons"][0]
