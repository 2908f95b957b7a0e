"""The report shows headline metrics across runs once the history index beside the run holds earlier runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli import main

RUN = ["target.latency_profile=zero", "suite=reasoning", "suite.sample_size=4", "apis=[converse]",
       "regions=[us-east-1]", "run.progress=false"]


def _run(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Path:
    assert main(["run", *RUN, f"run.out_dir={out}", *extra]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def test_trend_appears_with_history_and_marks_this_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _run(tmp_path, capsys, "target.engine=oracle", "target.oracle_accuracy=1.0")
    assert json.loads((first / "summary.json").read_text())["trend"] is None  # one run: no trend yet
    assert "Trend across runs" not in (first / "report.html").read_text()

    second = _run(tmp_path, capsys, "target.engine=oracle", "target.oracle_accuracy=0.0")
    trend = json.loads((second / "summary.json").read_text())["trend"]
    accuracy = next(row for row in trend["cells"] if row["metric"] == "accuracy")
    assert [p["value"] for p in accuracy["points"]] == [1.0, 0.0]
    assert [p["current"] for p in accuracy["points"]] == [False, True]
    assert "Trend across runs" in (second / "report.html").read_text()


def test_trend_keeps_only_the_same_cells_model_and_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path, capsys)
    _run(tmp_path, capsys, "suite=smoke", "suite.sample_size=2")  # another suite: never in the trend
    _run(tmp_path, capsys, "model=llama3-3-70b")  # another model: never in the trend
    last = _run(tmp_path, capsys)
    trend = json.loads((last / "summary.json").read_text())["trend"]
    assert {row["cell"] for row in trend["cells"]} == {"reasoning / us-east-1 / converse / default"}
    assert all(len(row["points"]) == 2 for row in trend["cells"])
    html = (last / "report.html").read_text()
    assert "(this)" not in html and html.count("<section id=\"trend\">") == 1


def test_no_trend_without_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path, capsys, "run.history=false")
    second = _run(tmp_path, capsys, "run.history=false")
    assert json.loads((second / "summary.json").read_text())["trend"] is None
