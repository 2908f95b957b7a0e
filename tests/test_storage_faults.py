"""Failing storage: a full disk or a read-only one stops sending, keeps a clean records file, ends with one line
and a final status, and leaves a run that resumes to exactly one record per planned request.

The run tests use a real tmpfs mounted for the test (root only; skipped otherwise); /dev/full stands in for a
full disk where mounting is not allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.storage import Ballast, RecordWriter

REPO = Path(__file__).resolve().parent.parent
RUN = ["suite=reasoning", "apis=[converse]", "regions=[us-east-1]", "run.progress=false", "run.history=false"]


def test_record_writer_on_a_full_device_fails_once_and_refuses_the_rest() -> None:
    writer = RecordWriter(Path("/dev/full"))
    assert writer.write({"request_id": "a"}) is False
    assert writer.failure is not None and "No space left on device" in writer.failure
    assert writer.write({"request_id": "b"}) is False
    assert writer.unwritten == 2 and writer.count == 0
    writer.close()


def test_record_writer_keeps_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    writer = RecordWriter(path)
    for i in range(3):
        assert writer.write({"request_id": str(i), "text": "é\n"})
    writer.close()
    assert writer.write({"request_id": "late"}) is False and writer.late == 1
    assert [json.loads(line)["request_id"] for line in path.read_text(encoding="utf-8").splitlines()] == ["0", "1", "2"]


def test_ballast_on_a_full_device_raises_and_leaves_nothing(tmp_path: Path) -> None:
    ballast = Ballast(tmp_path)
    ballast.hold(4096)
    assert (tmp_path / ".ballast").stat().st_size == 4096
    ballast.release()
    assert not (tmp_path / ".ballast").exists()


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "evals.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _only_run(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _check_resumes_cleanly(tiny_fs: Path, run_dir: Path, planned: int) -> None:
    subprocess.run(["mount", "-o", "remount,rw,size=64m", str(tiny_fs)], check=True)
    done = subprocess.run(_cli("run", f"run.resume={run_dir}"), env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    ids = Counter(r["request_id"] for r in records)
    assert len(ids) == planned and set(ids.values()) == {1}  # exactly one record per planned request
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_disk_full_mid_run_stops_cleanly_and_resumes(tiny_fs: Path) -> None:
    out = tiny_fs / "out"
    done = subprocess.run(_cli("run", *RUN, f"run.out_dir={out}", "target.latency_profile=zero",
                               "suite.sample_size=400", "load.concurrency=4"),
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr
    run_dir = _only_run(out)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and "No space left on device" in info["stop_detail"]
    assert "No space left on device" in done.stderr and "finished requests could not be recorded" in done.stderr
    data = (run_dir / "records.jsonl").read_bytes()
    assert data.endswith(b"\n")  # no torn line
    kept = data.count(b"\n")
    assert 0 < kept < 400 and info["counts"]["records"] == kept
    assert info["counts"]["unrecorded_storage_failed"] >= 1
    assert done.stdout.strip().splitlines()[-1] == str(run_dir)
    assert not (run_dir / ".ballast").exists()
    _check_resumes_cleanly(tiny_fs, run_dir, 400)


def test_resume_on_a_read_only_disk_is_one_line_and_changes_nothing(tiny_fs: Path) -> None:
    """Linux refuses to make a filesystem read-only while a file on it is open for writing, so the read-only case
    is tested where it can happen: between sessions (mid-run, a write fails as on a full disk, tested above)."""
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_fs)], check=True)
    out = tiny_fs / "out"
    done = subprocess.run(_cli("run", *RUN, f"run.out_dir={out}", "target.latency_profile=zero",
                               "suite.sample_size=6", "run.max_tokens_total=2500", "run.report=false"),
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run_dir = _only_run(out)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    done = subprocess.run(_cli("run", f"run.resume={run_dir}"), env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system" in lines[0], done.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_out_dir_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = subprocess.run(_cli("run", *RUN, "suite.sample_size=2", f"run.out_dir={blocker}/sub",
                               "target.latency_profile=zero"), env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: run.out_dir: cannot create {blocker}/sub/")
    assert blocker.read_text() == "x"


def test_read_only_out_dir_after_the_emulator_started_is_one_line(tiny_fs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    done = subprocess.run(_cli("run", *RUN, "suite.sample_size=2", f"run.out_dir={tiny_fs}/out",
                               "target.latency_profile=zero"), env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: run.out_dir: cannot create")
    assert "Read-only file system" in lines[0]
    assert list(tiny_fs.iterdir()) == []
