"""The `bedrock-evals emulator` command: bad input exits 2 naming the key; endpoints file; no secrets printed."""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import sys

import pytest

from evals.emulator import Emulator
from evals.emulator.cli import READY_PREFIX, main
from evals.emulator.process import EmulatorStartError
from evals.paths import REPO_ROOT


@pytest.mark.parametrize("argv,needle", [
    (["--latency-profile", "slow"], "latency-profile"),
    (["--latency-scale", "abc"], "latency-scale"),
    (["--bogus"], "--bogus"),
])
def test_bad_flags_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_bad_config_names_key(tmp_path, capsys):
    cfg = tmp_path / "emu.yaml"
    cfg.write_text("faults:\n  throttel: 0.1\n")
    assert main(["--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert "faults" in err and "throttel" in err and len(err.splitlines()) == 1
    cfg.write_text("- not a mapping\n")
    assert main(["--config", str(cfg)]) == 2


def test_cli_serves_writes_endpoints_and_stops(tmp_path):
    cfg = tmp_path / "emu.yaml"
    cfg.write_text("latency_profile: realistic\nregions: [us-east-1, us-west-2]\nseed: 9\n")
    endpoints_file = tmp_path / "out" / "endpoints.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals.cli", "emulator", "--config", str(cfg), "--latency-profile", "zero",
         "--endpoints-file", str(endpoints_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(READY_PREFIX):
                break
        data = json.loads(endpoints_file.read_text())
        assert stat.S_IMODE(os.stat(endpoints_file).st_mode) == 0o600
        assert set(data["regions"]) == {"us-east-1", "us-west-2"}
        assert data["latency_profile"] == "zero" and data["seed"] == 9  # flag overrides the file
        assert data["regions"]["us-east-1"]["https"].startswith("https://127.0.0.1:")
        assert os.path.exists(data["ca_file"]) and data["pid"] == proc.pid
        printed = "".join(lines)
        assert data["regions"]["us-west-2"]["http"] in printed
        assert data["credentials"]["secret_access_key"] not in printed
        assert data["credentials"]["api_key"] not in printed
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert data["credentials"]["secret_access_key"] not in out + err


def test_process_fixed_credentials_and_stop():
    creds = {"access_key_id": "AKIAFIXED", "secret_access_key": "fixed-secret", "api_key": "fixed-key"}
    emu = Emulator({"latency_profile": "zero", "credentials": creds, "regions": ["us-east-1"]})
    with emu:
        assert emu.credentials == creds
        pid = emu.endpoints["pid"]
        assert emu.stats()["total_requests"] == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_failure_reports_the_reason(tmp_path):
    with pytest.raises(EmulatorStartError, match="card_dir"):
        Emulator({"latency_profile": "zero", "card_dir": str(tmp_path)}).start()


def test_child_exits_when_parent_dies(tmp_path):
    """A harness killed with SIGKILL must not leave an emulator behind."""
    script = (
        "import sys, time\n"
        "from evals.emulator import Emulator\n"
        "emu = Emulator({'latency_profile': 'zero', 'regions': ['us-east-1']}).start()\n"
        "print(emu.endpoints['pid'], flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    child_pid = int(parent.stdout.readline())
    pidfd = os.pidfd_open(child_pid)  # becomes readable when the emulator exits
    try:
        parent.kill()
        parent.wait()
        exited, _, _ = select.select([pidfd], [], [], 10)
    finally:
        os.close(pidfd)
    if not exited:
        os.kill(child_pid, signal.SIGKILL)
        pytest.fail("emulator outlived its parent")
