"""End to end: real runs on the emulator render their report, and `report` merges two of them.

Runs go through `evals.cli.main` in this process (the CLI's own entry point; each run still starts its emulator
process and talks to it through boto3): what is checked is the run directory and what the run prints.
"""

from __future__ import annotations

import contextlib
import html as htmllib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from evals import cli


def _cli_run(*args: str) -> tuple[int, str, str]:
    """`bedrock-evals run ARGS` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["run", *args])
    return code, out.getvalue(), err.getvalue()


def _run(out: Path, *overrides: str) -> Path:
    code, stdout, stderr = _cli_run("target.latency_profile=zero", "run.progress=false", f"run.out_dir={out}",
                                    *overrides)
    assert code == 0, stderr
    return Path(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("runs")
    east = _run(out, "regions=[us-east-1]", "apis=[converse,invoke]", "run.repeats=2", "run.name=east")
    west = _run(out, "regions=[us-west-2]", "apis=[converse,invoke]", "run.repeats=2", "run.name=west")
    return east, west


def test_a_run_ends_with_its_report(two_runs: tuple[Path, Path]) -> None:
    east, _ = two_runs
    assert {"report.html", "summary.json", "records.csv", "records.parquet"} <= {p.name for p in east.iterdir()}
    info = json.loads((east / "run.json").read_text())
    records = [json.loads(line) for line in (east / "records.jsonl").read_text().splitlines()]
    summary = json.loads((east / "summary.json").read_text())
    measured = [r for r in records if not r["warmup"]]
    per_cell = Counter((r["suite"], r["region"], r["api"], r["tier"]) for r in measured)
    got = {(c["key"]["suite"], c["key"]["region"], c["key"]["api"], c["key"]["tier"]): c["counts"]["requests"]
           for c in summary["cells"]}
    assert got == dict(per_cell)
    assert summary["totals"]["ok"] + summary["totals"]["errors"] == len(measured)
    assert summary["totals"]["errors"] == info["counts"]["errors"]
    assert summary["runs"][0]["model"]["ids_sent"] == info["model"]["ids_sent"]
    assert summary["headline"]["all_emulated"] is True
    html = (east / "report.html").read_text()
    assert info["run_id"] in html and info["provenance"]["botocore"] in html
    assert info["quota_waits"] == {"requests": 0, "total_s": 0.0, "longest_s": 0.0}  # counted, none needed here


def test_image_items_carry_thumbnails_into_the_viewer(two_runs: tuple[Path, Path]) -> None:
    east, _ = two_runs
    thumbs = json.loads((east / "thumbnails.json").read_text())
    assert thumbs and all(u.startswith("data:image/jpeg;base64,") for uris in thumbs.values() for u in uris)
    html = (east / "report.html").read_text()
    data = re.search(r'<div id="viewer-data" hidden>(.*?)</div>', html, re.DOTALL)
    assert data is not None
    viewer = json.loads(htmllib.unescape(data.group(1)))
    with_images = [it for it in viewer["items"] if it["images"]]
    assert with_images and all(f"{it['suite']}\t{it['sample']}" in viewer["thumbnails"] for it in with_images)
    assert all(it["prompt"] for it in viewer["items"])  # the whole prompt, within the cap


def test_report_merges_two_real_runs(two_runs: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    east, west = two_runs
    out = tmp_path / "merged"
    assert cli.main(["report", str(east), str(west), "--out", str(out), "--format", "parquet"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    summary = json.loads((out / "summary.json").read_text())
    assert {c["key"]["region"] for c in summary["cells"]} == {"us-east-1", "us-west-2"}
    rows = summary["comparisons"]["region"]
    assert {r["group"].split(" / ")[1] for r in rows} == {"converse", "invoke"}
    for row in rows:
        assert {row["reference"], row["other"]} == {"us-east-1", "us-west-2"}
        assert row["latency"]["ratio"]["margin"] is not None and row["accuracy"]["pairs"] > 0
    assert not (out / "records.csv").exists()


def test_run_ends_with_the_headline_in_words(tmp_path: Path) -> None:
    code, stdout, stderr = _cli_run("target.latency_scale=0.2", "run.progress=false", f"run.out_dir={tmp_path}",
                                    "regions=[us-east-1,us-west-2]", "apis=[converse]", "run.repeats=3")
    assert code == 0, stderr
    run_dir = Path(stdout.strip().splitlines()[-1])
    (region,) = json.loads((run_dir / "summary.json").read_text())["ranking"]
    p50 = next(row for row in region["metrics"] if row["metric"] == "latency_p50")
    err = stderr.splitlines()
    start = next(i for i, line in enumerate(err) if line.startswith("headline ("))
    assert err[start + 1] == "Which region?"
    assert err[start + 2] == f"  {p50['sentence']}"
    assert err[start + 2].startswith(f"  p50 latency: {p50['best']['level']} fastest (")
    other = p50["others"][0]
    assert other["verdict"] in ("worse", "within the margin", "inconclusive")
    assert other["text"] in err[start + 2]
    html = (run_dir / "report.html").read_text()
    assert html.index('id="headline"') < html.index('id="provenance"')


@pytest.mark.serial
def test_a_sweep_report_shows_a_positive_rate_at_every_level_and_the_knee(tmp_path: Path) -> None:
    """The emulator's quota (a tenth of the card's: 80 requests/minute) throttles the last level of a 96-request
    sweep; with no client-side limiter and no retries the throttles surface and mark the knee."""
    run_dir = _run(tmp_path, "load=sweep", "load.levels=[1,4,16]", "target.latency_profile=realistic",
                   "target.latency_scale=0.2", "target.quota_scale=0.1", "transport.client_rate_limit=false",
                   "transport.max_attempts=1", "apis=[converse]", "regions=[us-east-1]", "run.repeats=4")
    sweep = json.loads((run_dir / "summary.json").read_text())["sweep"]
    rates = [row["throughput"]["requests_per_s"] for row in sweep["rows"]]
    assert [row["level"] for row in sweep["rows"]] == [1.0, 4.0, 16.0]
    assert all(r["estimate"] > 0 and (r["low"] is None or r["low"] >= 0) for r in rates)
    assert rates[0]["estimate"] < rates[1]["estimate"] < rates[2]["estimate"]
    assert sweep["knee"]["level"] == 16.0 and "throttled" in sweep["knee"]["reasons"][0]
    assert sweep["max_sustainable"]["level"] == 4.0
    html = (run_dir / "report.html").read_text()
    assert "Knee at concurrency 16.0" in html and 'id="plot-sweep"' in html
