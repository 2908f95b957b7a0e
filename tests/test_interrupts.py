"""Ctrl-C at any moment: a storm of SIGINTs from setup to the emulator's stop ends with a final status, exit 130,
no traceback, whole records, and no emulator process or TLS file left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evals.commands.interrupts import FINISHING, SETUP, Interrupts

# SIGINT storms against a live run: kept out of the parallel pass so nothing else competes for the cores
pytestmark = pytest.mark.serial

REPO = Path(__file__).resolve().parent.parent
RUN = ["suite=reasoning", "apis=[converse]", "regions=[us-east-1]", "run.progress=false", "run.history=false",
       "target.latency_profile=fixed", "target.fixed_latency_ms=300", "suite.sample_size=40", "load.concurrency=2"]


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "evals.cli", "run", *RUN, f"run.out_dir={out}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, out, tmp


def _storm(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGINT to the process group, as a terminal sends it, every 20 ms until the run exits."""
    deadline = time.monotonic() + 90
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the run did not stop"
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.02)  # the storm's own pace; nothing waits on it
    return proc.communicate(timeout=30)


def _wait_until(check, what: str, limit_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _assert_clean(stdout: str, stderr: str, out: Path, tmp: Path, code: int | None) -> None:
    assert "Traceback" not in stderr, stderr
    assert code == 130, stderr
    for run_json in out.glob("*/run.json"):
        info = json.loads(run_json.read_text())
        assert info["status"] == "interrupted"  # a final status, never "running"
        data = (run_json.parent / "records.jsonl").read_bytes()
        assert not data or data.endswith(b"\n")
        assert info["counts"]["records"] == data.count(b"\n")
    # the emulator the run started is gone with its TLS files (it stops within a second of its parent)
    _wait_until(lambda: not any(tmp.iterdir()), f"left in TMPDIR: {list(tmp.iterdir())}", 10)


def test_ctrl_c_storm_while_running_and_stopping(tmp_path: Path) -> None:
    proc, out, tmp = _start(tmp_path)
    _wait_until(lambda: any(p.stat().st_size for p in out.glob("*/records.jsonl")), "no record was written")
    stdout, stderr = _storm(proc)
    _assert_clean(stdout, stderr, out, tmp, proc.returncode)
    assert "interrupted: no new requests" in stderr
    assert len(list(out.glob("*/run.json"))) == 1


def test_ctrl_c_storm_during_setup(tmp_path: Path) -> None:
    proc, out, tmp = _start(tmp_path)
    _wait_until(lambda: any(tmp.iterdir()), "the emulator never started")  # the run is setting up its target
    stdout, stderr = _storm(proc)
    _assert_clean(stdout, stderr, out, tmp, proc.returncode)


def test_phases_decide_what_a_ctrl_c_does() -> None:
    it = Interrupts()
    assert it.phase == SETUP
    it.on_sigint(2, None)  # the first is remembered
    with pytest.raises(KeyboardInterrupt):
        it.on_sigint(2, None)  # the second stops the setup
    it.hold()
    it.on_sigint(2, None)  # the run directory is being written: counted only
    it.detach()
    assert it.phase == FINISHING
    it.on_sigint(2, None)  # finishing: counted only
    with it.interruptible(), pytest.raises(KeyboardInterrupt):
        it.on_sigint(2, None)
    assert it.count == 5
    with it.interruptible():
        with pytest.raises(KeyboardInterrupt):
            it.on_sigint(2, None)
        it.on_sigint(2, None)  # the storm's next one, say in the stretch's own cleanup: counted, never raised
    it.on_sigint(2, None)
    assert it.count == 8
