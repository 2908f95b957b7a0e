"""Every built-in suite runs end to end on the emulator through both APIs, and scores what comes back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli import main
from evals.suites import builtin_suites


@pytest.mark.parametrize("suite", builtin_suites())
def test_builtin_suite_runs_through_both_apis(suite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([
        "run", f"suite={suite}", "suite.sample_size=3", "apis=[converse,invoke]", "regions=[us-east-1]",
        "target.latency_profile=zero", "target.engine=oracle", "target.oracle_accuracy=1.0",
        "run.report=false", "run.progress=false", "run.history=false", f"run.out_dir={tmp_path}",
    ])
    assert code == 0, capsys.readouterr().err
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert {r["api"] for r in records} == {"converse", "invoke"}
    assert len(records) == 6
    for rec in records:
        assert rec["status"] == "ok", rec["error_message"]
        assert rec["suite"] == suite
        # the oracle answers with each item's reference, so the suite's own scorer must give full marks
        assert rec["score"] == 1.0, (rec["sample_id"], rec["response_text"][:200])
