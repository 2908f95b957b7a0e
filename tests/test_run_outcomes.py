"""Cells refused up front and loud outcomes: a run's numbers are what was asked, or it says loudly that they are not.

Every bad-input case asserts one line naming the key, exit 2, no traceback and no run directory; every faulty run
asserts its exact record count, its final status, its exit code, the terminal line and the report's red banner.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from evals.cards import load_card
from evals.cli import main
from evals.results.outcome import EXIT_FAILED, EXIT_MOSTLY_FAILED, assess
from evals.results.table import table_from_dicts
from evals.run.card_checks import card_refusals

FAST = ["target.latency_profile=zero", "run.progress=false", "run.history=false"]
ONE_CELL = ["suite=reasoning", "suite.sample_size=4", "apis=[converse]", "regions=[us-east-1]"]


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *overrides: str) -> str:
    """Run with bad input: exit 2, exactly one line on stderr, nothing on stdout, no run directory."""
    code = main(["run", *FAST, f"run.out_dir={tmp_path / 'out'}", *overrides])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing half-written
    return lines[0]


@pytest.mark.parametrize(("override", "key"), [
    ("apis=[converse,converse]", "apis: 'converse' is listed twice"),
    ("regions=[us-east-1,us-east-1]", "regions: 'us-east-1' is listed twice"),
    ("tiers=[default,default]", "tiers: 'default' is listed twice"),
    ("regions=[]", "regions: must name at least one value"),
    ("apis=[]", "apis: must name at least one value"),
    ("tiers=[]", "tiers: must name at least one value"),
])
def test_duplicate_or_empty_cell_lists_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   override: str, key: str) -> None:
    line = refused(tmp_path, capsys, "suite=reasoning", "suite.sample_size=2", "apis=[converse]",
                   "regions=[us-east-1]", override)
    assert key in line


@pytest.mark.parametrize("levels", ["[2,2]", "[]", "[1,2,1]"])
def test_sweep_levels_duplicate_or_empty_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     levels: str) -> None:
    line = refused(tmp_path, capsys, *ONE_CELL, "load=sweep", f"load.levels={levels}")
    assert line.startswith("error: load.levels: ")


@pytest.mark.parametrize(("overrides", "expected"), [
    (["apis=[converse_stream]"], "apis: 'converse_stream': model card 'llama4-maverick' does not support streaming"),
    (["tiers=[priority]"], "tiers: 'priority': model card 'llama4-maverick' does not offer this service tier"),
    (["model=llama3-3-70b", "regions=[us-west-1]"], "regions: 'us-west-1': model card 'llama3-3-70b' is not served"),
])
def test_what_the_card_refuses_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: list[str], expected: str
) -> None:
    line = refused(tmp_path, capsys, "suite=reasoning", "suite.sample_size=2", "apis=[converse]",
                   "regions=[us-east-1]", *overrides)
    assert line.startswith(f"error: {expected}")


def test_send_refused_is_only_for_aws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(tmp_path, capsys, *ONE_CELL, "tiers=[priority]", "run.send_refused=true")
    assert line.startswith("error: run.send_refused: only on target=aws")


def test_card_refusals_is_one_answer_for_every_dimension() -> None:
    card = load_card("llama4-maverick")
    got = card_refusals(card, ["converse", "invoke_stream"], ["us-east-1", "eu-west-1"], ["default", "flex"])
    assert [(r.key, r.value) for r in got] == [("apis", "invoke_stream"), ("regions", "eu-west-1"),
                                               ("tiers", "flex")]
    assert card_refusals(card, ["converse", "invoke"], list(card.source_regions), ["default"]) == []


def test_max_error_rate_out_of_range_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(tmp_path, capsys, *ONE_CELL, "run.max_error_rate=1.5").startswith("error: run.max_error_rate:")


def test_assess_judges_records() -> None:
    ok, err = {"status": "ok"}, {"status": "error", "error_code": "ThrottlingException"}
    assert assess(table_from_dicts([ok, ok, err])).verdict == "ok"
    mostly = assess(table_from_dicts([ok, err, err]), max_error_rate=0.5)
    assert mostly.verdict == "mostly-failed" and mostly.top_errors == (("ThrottlingException", 2),)
    assert assess(table_from_dicts([err, err])).verdict == "failed"
    assert assess(table_from_dicts([])).verdict == "ok"
    unreachable = assess(table_from_dicts([{"status": "error", "error_code": "EndpointConnectionError"}]))
    assert unreachable.unreachable and "the target could not be reached" in unreachable.headline()


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *overrides: str) -> tuple[int, Path, str]:
    code = main(["run", *FAST, f"run.out_dir={tmp_path}", *overrides])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, Path(out.strip().splitlines()[-1]), err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_request_failing_to_connect_is_a_failed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """target=aws with fake keys and nothing listening where the service should be: no request is answered."""
    url = f"http://127.0.0.1:{_closed_port()}"
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE7777")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    code, run_dir, err = _run(tmp_path, capsys, *ONE_CELL, "target=aws", "run.preflight=false",
                              "transport.max_attempts=1", "transport.connect_timeout_s=2")
    assert code == EXIT_FAILED
    info = json.loads((run_dir / "run.json").read_text())
    records = (run_dir / "records.jsonl").read_text().splitlines()
    assert len(records) == 4 and info["counts"]["errors"] == 4  # every request is a record, none dropped
    assert info["status"] == "failed"
    assert info["outcome"]["verdict"] == "failed" and info["outcome"]["unreachable"]
    assert "FAILED: every request failed; the target could not be reached" in err
    html = (run_dir / "report.html").read_text()
    body = html[html.index("<body>"):]
    assert body.index('class="banner failed"') < body.index("<header>")  # the red banner opens the report
    assert "The target could not be reached" in body and "EndpointConnectionError" in body


def test_a_stale_endpoints_file_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    stale = tmp_path / "endpoints.json"
    stale.write_text(json.dumps({"regions": {"us-east-1": {"http": url, "https": url, "ca_file": ""}},
                                 "admin": url, "admin_token": "t", "credentials": {}}))
    line = refused(tmp_path, capsys, *ONE_CELL, f"target.endpoints_file={stale}")
    assert line.startswith(f"error: target.endpoints_file: the emulator in {stale} does not answer")


def test_mostly_failed_run_has_its_own_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, run_dir, err = _run(tmp_path, capsys, "suite=reasoning", "suite.sample_size=30", "apis=[converse]",
                              "regions=[us-east-1]", "target.faults.internal_error=0.8", "transport.max_attempts=1",
                              "run.max_error_rate=0.3", "target.seed=7")
    info = json.loads((run_dir / "run.json").read_text())
    assert len((run_dir / "records.jsonl").read_text().splitlines()) == 30
    assert info["counts"]["ok"] > 0 and info["counts"]["errors"] > 9  # seeded: 80 % injected faults of 30
    assert code == EXIT_MOSTLY_FAILED
    assert info["status"] == "completed" and info["outcome"]["verdict"] == "mostly-failed"
    assert "above run.max_error_rate=0.3" in err and "InternalServerException" in err
    html = (run_dir / "report.html").read_text()
    assert 'class="banner failed"' in html and "mostly failed" in html


def test_a_clean_run_has_no_banner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, run_dir, err = _run(tmp_path, capsys, *ONE_CELL)
    assert code == 0 and "FAILED" not in err
    assert 'class="banner failed"' not in (run_dir / "report.html").read_text()


def test_send_refused_on_aws_measures_the_service_refusal(tmp_path: Path) -> None:
    """target=aws (boto3 pointed at the emulator by the standard endpoint variables): refused cells are refused
    with a hint, and `run.send_refused=true` sends them so each refusal is an error record."""
    import subprocess
    import sys

    from evals.emulator.process import EmulatorProcess

    repo = Path(__file__).resolve().parent.parent
    with EmulatorProcess({"latency_profile": "zero"}) as emu:
        url, creds = emu.endpoints["regions"]["us-east-1"]["http"], emu.endpoints["credentials"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(PYTHONPATH=str(repo), AWS_ACCESS_KEY_ID=creds["access_key_id"],
                   AWS_SECRET_ACCESS_KEY=creds["secret_access_key"], AWS_ENDPOINT_URL_BEDROCK_RUNTIME=url,
                   AWS_ENDPOINT_URL_BEDROCK=url, AWS_ENDPOINT_URL_SERVICE_QUOTAS=url,
                   AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                   AWS_EC2_METADATA_DISABLED="true")
        out = tmp_path / "out"
        args = [sys.executable, "-m", "evals.cli", "run", "target=aws", "suite=reasoning", "suite.sample_size=3",
                "apis=[converse]", "regions=[us-east-1]", "tiers=[priority]", f"run.out_dir={out}",
                "run.progress=false", "run.report=false", "run.history=false"]
        refused = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and not out.exists()
        assert refused.stderr.strip().endswith("on target=aws, run.send_refused=true sends them anyway")
        sent = subprocess.run([*args, "run.send_refused=true"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert "Traceback" not in sent.stderr
        assert "WARN  plan" in sent.stderr  # the preflight says it is sent on purpose, and goes on
        assert sent.returncode == EXIT_FAILED, sent.stderr
        run_dir = Path(sent.stdout.strip().splitlines()[-1])
        records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
        assert len(records) == 3 and {r["error_code"] for r in records} == {"ValidationException"}
        assert {r["tier"] for r in records} == {"priority"}
