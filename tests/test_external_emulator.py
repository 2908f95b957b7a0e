"""A run against an emulator started elsewhere records what that emulator serves and refuses what it cannot honour."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.cli import main
from evals.emulator import EmulatorOptions
from evals.emulator.process import EmulatorProcess
from evals.results.outcome import EXIT_MOSTLY_FAILED

REPO = Path(__file__).resolve().parent.parent
ONE_CELL = ["suite=reasoning", "apis=[converse]", "regions=[us-east-1]", "run.progress=false", "run.history=false"]


@pytest.fixture
def oracle_emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    options = EmulatorOptions.from_dict({
        "latency_profile": "zero", "engine": "oracle", "oracle_accuracy": 0.9, "seed": 11,
        "faults": {"throttle": 0.05}, "endpoints_file": str(tmp_path / "emu" / "endpoints.json"),
    })
    with EmulatorProcess(options) as emu:
        yield emu


def test_run_records_the_settings_the_emulator_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       oracle_emulator: EmulatorProcess) -> None:
    code = main(["run", f"run.out_dir={tmp_path / 'out'}", f"target.endpoints_file={oracle_emulator.endpoints_file}",
                 *ONE_CELL, "suite.sample_size=40", "run.report=false", "transport.client_rate_limit=false"])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    target = json.loads((run_dir / "run.json").read_text())["target"]
    assert target["external"] and target["engine"] == "oracle" and target["oracle_accuracy"] == 0.9
    assert target["faults"]["throttle"] == 0.05 and target["latency_profile"] == "zero"
    assert target["emulator_settings"]["seed"] == 11
    assert "credentials" not in target["emulator_settings"]
    assert "probability 0.9" in target["note"]
    stats = oracle_emulator.stats()
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(records) == 40
    assert sum(r["throttles"] for r in records) == stats["throttles"]  # every throttle the emulator sent, recorded


@pytest.mark.parametrize(("override", "key"), [
    ("target.latency_scale=0.1", "target.latency_scale: the emulator in"),
    ("target.engine=echo", "target.engine: the emulator in"),
    ("target.faults.throttle=0.2", "target.faults.throttle: the emulator in"),
    ("target.seed=3", "target.seed: the emulator in"),
])
def test_settings_an_external_emulator_cannot_honour_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], oracle_emulator: EmulatorProcess, override: str, key: str
) -> None:
    code = main(["run", f"run.out_dir={tmp_path / 'out'}", f"target.endpoints_file={oracle_emulator.endpoints_file}",
                 *ONE_CELL, "suite.sample_size=2", override])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {key}") and "a run cannot change an emulator it did not start" in err
    assert not (tmp_path / "out").exists()
    assert oracle_emulator.stats()["total_requests"] == 0  # refused before any request


def test_matching_settings_are_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        oracle_emulator: EmulatorProcess) -> None:
    code = main(["run", f"run.out_dir={tmp_path / 'out'}", f"target.endpoints_file={oracle_emulator.endpoints_file}",
                 *ONE_CELL, "suite.sample_size=2", "target.engine=oracle", "target.oracle_accuracy=0.9",
                 "target.seed=11", "run.report=false"])
    assert code == 0, capsys.readouterr().err


def test_emulator_dying_mid_run_gives_exact_records_and_a_loud_exit(tmp_path: Path) -> None:
    """Every planned request ends as a record: those sent after the emulator died are connection errors."""
    endpoints = tmp_path / "emu" / "endpoints.json"
    options = EmulatorOptions.from_dict({"latency_profile": "fixed", "fixed_latency_ms": 100, "seed": 3,
                                         "endpoints_file": str(endpoints)})
    emu = EmulatorProcess(options).start()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "evals.cli", "run", f"run.out_dir={out}",
                             f"target.endpoints_file={endpoints}", *ONE_CELL, "suite.sample_size=40",
                             "load.concurrency=2", "transport.max_attempts=1", "transport.connect_timeout_s=2",
                             "run.report=false"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for a few records, then kill the emulator under the run
            files = list(out.glob("*/records.jsonl"))
            if files and files[0].read_text().count("\n") >= 6:
                break
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        assert emu.proc is not None
        emu.proc.send_signal(signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        emu.stop()
    assert "Traceback" not in stderr
    run_dir = Path(stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    info = json.loads((run_dir / "run.json").read_text())
    assert len(records) == 40 and len({r["request_id"] for r in records}) == 40  # none dropped, none twice
    errors = [r for r in records if r["status"] == "error"]
    assert len(errors) > 20 and {r["error_code"] for r in errors} <= {"EndpointConnectionError", "ConnectionClosed"}
    assert proc.returncode == EXIT_MOSTLY_FAILED and info["outcome"]["verdict"] == "mostly-failed"
    assert "FAILED:" in stderr
