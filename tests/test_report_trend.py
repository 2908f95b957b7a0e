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
    assert [r["current"] for r in trend["runs"]] == [False, True]
    accuracy = next(row for row in trend["cells"] if row["metric"] == "accuracy")
    assert accuracy["values"] == [1.0, 0.0]
    assert "Trend across runs" in (second / "report.html").read_text()


def test_no_trend_without_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path, capsys, "run.history=false")
    second = _run(tmp_path, capsys, "run.history=false")
    assert json.loads((second / "summary.json").read_text())["trend"] is None
