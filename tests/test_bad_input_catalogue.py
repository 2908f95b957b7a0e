"""The bad-input catalogue: each case is one line naming the file or key, exit 2, no traceback, nothing written.

Run-side cases (the emulator's flags, images, datasets) and the readers behind report, compare and gate (corrupt
run directories, a non-UTF-8 rules file). Further cases live beside the feature they check: cells and outcomes
(test_run_outcomes.py), model card and suite nodes and the checks every entry point shares (test_config_checks.py),
resume (test_resume_integrity.py), overrides and secrets (test_overrides_secrets.py), storage
(test_storage_faults.py), Ctrl-C (test_interrupts.py), untrusted text (test_untrusted_text.py).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from evals.cli import main

REPO = Path(__file__).resolve().parent.parent
ONE_CELL = ["apis=[converse]", "regions=[us-east-1]", "run.progress=false", "run.history=false",
            "target.latency_profile=zero"]


def _cli(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp), **(env or {})}
    return subprocess.run([sys.executable, "-m", "evals.cli", *args], env=full_env, capture_output=True, text=True,
                          timeout=120)


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("args", "expected"), [
    (["--host", "203.0.113.7"], "error: host: cannot listen on '203.0.113.7'"),
    (["--host", "127.0.0.1:8080"], "error: host: '127.0.0.1:8080' is not an address or host name"),
    (["--endpoints-file", "{tmp}/FILE/x.json"], "error: endpoints_file: cannot write {tmp}/FILE/x.json: "
                                                "{tmp}/FILE is a file"),
])
def test_emulator_flags_that_cannot_work(tmp_path: Path, args: list[str], expected: str) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp_path / "FILE").write_text("x")
    done = _cli(tmp, "emulator", *[a.format(tmp=tmp_path) for a in args])
    assert done.returncode == 2 and done.stdout == ""
    assert _one_line(done.stderr).startswith(expected.format(tmp=tmp_path))
    assert list(tmp.iterdir()) == []  # no TLS key or certificate left in TMPDIR
    assert (tmp_path / "FILE").read_text() == "x"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: enough for a decoder's size check."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decompression_bomb_image_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bomb.png").write_bytes(_png_header_only(14000, 14000))
    suite = tmp_path / "items.jsonl"
    suite.write_text(json.dumps({"id": "a", "prompt": "What is shown?", "image": "bomb.png"}) + "\n")
    code = main(["run", "suite=jsonl", f"suite.path={suite}", f"run.out_dir={tmp_path / 'out'}", *ONE_CELL])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    line = _one_line(err)
    assert f"{suite}:1: image {tmp_path / 'bomb.png'} is too large to decode safely" in line
    assert not (tmp_path / "out").exists()


def test_missing_local_dataset_path_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "suite=hf", f"suite.dataset.path={tmp_path / 'nowhere'}", f"run.out_dir={tmp_path / 'o'}",
                 *ONE_CELL])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and "suite: dataset.path: no local dataset at" in line and "revision" not in line


def test_unreachable_hub_is_one_line_without_retry_noise(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = _cli(tmp, "run", "suite=hf", "suite.dataset.path=someorg/somedata", "suite.dataset.revision=abc123",
                f"run.out_dir={tmp_path / 'out'}", *ONE_CELL,
                env={"HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "HF_HOME": str(tmp_path / "hf")})
    assert done.returncode == 2
    line = _one_line(done.stderr)  # one line: no "Retrying in 1s" chatter
    assert "the Hugging Face Hub cannot be reached" in line and "not in the local cache" in line
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ report, compare and gate on corrupt input


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("good")
    code = main(["run", "suite=reasoning", "suite.sample_size=3", f"run.out_dir={out}", *ONE_CELL,
                 "run.report=false"])
    assert code == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _corrupt(good: Path, where: Path, kind: str) -> Path:
    where.mkdir()
    run_json, records = (good / "run.json").read_bytes(), (good / "records.jsonl").read_bytes()
    if kind == "garbage":
        records = b"\xff\xfe" + bytes(range(256)) * 8 + b"\n"
    elif kind == "latency-text":
        rows = [json.loads(line) for line in records.splitlines()]
        rows[1]["latency_ms"] = "fast"
        records = "".join(json.dumps(r) + "\n" for r in rows).encode()
    elif kind == "run-json-list":
        run_json = b"[1, 2]\n"
    elif kind == "run-json-target":
        info = json.loads(run_json)
        info["target"] = ["local"]
        run_json = json.dumps(info).encode()
    (where / "run.json").write_bytes(run_json)
    (where / "records.jsonl").write_bytes(records)
    return where


@pytest.mark.parametrize(("kind", "expected"), [
    ("garbage", "records.jsonl:1: not UTF-8 text (not a records file?)"),
    ("latency-text", "records.jsonl:2: latency_ms must be a number or null, got 'fast'"),
    ("run-json-list", "run.json: not a run file (a JSON object expected, got list)"),
    ("run-json-target", "run.json: target must be an object, got list"),
])
@pytest.mark.parametrize("command", ["report", "compare", "gate"])
def test_readers_refuse_corrupt_run_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_run: Path,
                                                kind: str, expected: str, command: str) -> None:
    bad = _corrupt(good_run, tmp_path / "bad", kind)
    out = tmp_path / "out"
    args = {"report": ["report", str(bad), "--out", str(out)],
            "compare": ["compare", str(good_run), str(bad), "--out", str(out)],
            "gate": ["gate", str(good_run), str(bad), "--junit", str(out / "junit.xml")]}[command]
    code = main(args)
    stdout, err = capsys.readouterr()
    assert code == 2, err  # never 1: to CI, 1 means a regression
    assert stdout == ""
    assert _one_line(err) == f"error: {bad}/{expected}"
    assert not out.exists()  # nothing half-written


def test_gate_refuses_a_rules_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     good_run: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"rules:\n  - name: \xff\xfe\n")
    code = main(["gate", str(good_run), str(good_run), "--rules", str(rules)])
    stdout, err = capsys.readouterr()
    assert code == 2 and stdout == ""
    assert _one_line(err) == f"error: {rules}: cannot read rules file: not UTF-8 text"
