"""Resume integrity: a resume sends the same run or refuses, from any directory; budget caps hold across sessions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli import main

FAST = ["target.latency_profile=zero", "run.progress=false", "run.history=false", "run.report=false"]


def _write_suite(path: Path, prefix: str, n: int = 3) -> None:
    path.write_text("".join(json.dumps({"id": f"{prefix}{i}", "prompt": f"What is {i}+1?", "answer": str(i + 1)})
                            + "\n" for i in range(n)))


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def test_resume_with_changed_suite_data_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "items.jsonl"
    _write_suite(suite, "a")
    code, out, _ = _run(capsys, *FAST, f"run.out_dir={tmp_path / 'out'}", "suite=jsonl", f"suite.path={suite}",
                        "apis=[converse]", "regions=[us-east-1]")
    assert code == 0
    run_dir = Path(out.strip().splitlines()[-1])
    before = (run_dir / "records.jsonl").read_bytes()
    info_before = (run_dir / "run.json").read_bytes()
    assert set(json.loads(info_before)["fingerprint"]) >= {"suites", "model_card", "model_card_file", "config"}

    _write_suite(suite, "b")  # same file, new ids
    code, out, err = _run(capsys, f"run.resume={run_dir}")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert "run.resume: suite 'jsonl' data changed since the run started" in err and "run.resume_force=true" in err
    assert (run_dir / "records.jsonl").read_bytes() == before  # nothing touched
    assert (run_dir / "run.json").read_bytes() == info_before

    code, out, _ = _run(capsys, f"run.resume={run_dir}", "run.resume_force=true")
    assert code == 0
    info = json.loads((run_dir / "run.json").read_text())
    assert info["resumes"][-1]["forced_despite"] == ["suite 'jsonl' data"]
    assert len(_records(run_dir)) == 6  # the forced resume sent the new items, and says so in run.json


def test_resume_from_another_directory_reads_the_same_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()
    _write_suite(first / "items.jsonl", "a", n=4)
    _write_suite(other / "items.jsonl", "zzz", n=2)  # a different file at the same relative path
    monkeypatch.chdir(first)
    code, out, _ = _run(capsys, *FAST, "run.out_dir=out", "suite=jsonl", "suite.path=items.jsonl",
                        "apis=[converse]", "regions=[us-east-1]", "run.max_tokens_total=1")
    run_dir = (first / out.strip().splitlines()[-1]).resolve()
    info = json.loads((run_dir / "run.json").read_text())
    assert code == 0 and info["status"] == "budget-stopped" and _records(run_dir) == []
    assert info["config"]["suite"]["path"] == str(first / "items.jsonl")  # saved absolute
    assert info["config"]["run"]["out_dir"] == str(first / "out")

    monkeypatch.chdir(other)
    code, _, _ = _run(capsys, f"run.resume={run_dir}", "run.max_tokens_total=100000")
    assert code == 2  # the resume takes no other override: the saved config (and its cap) is the run's
    code, _, err = _run(capsys, f"run.resume={run_dir}")
    assert code == 0, err  # nothing changed: the original file is read, from wherever the resume starts
    assert _records(run_dir) == []  # and the saved cap still holds


def test_budget_cap_holds_across_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = 1500
    code, out, _ = _run(capsys, *FAST, f"run.out_dir={tmp_path}", "suite=reasoning", "suite.sample_size=40",
                        "apis=[converse]", "regions=[us-east-1]", f"run.max_tokens_total={cap}",
                        "load.concurrency=2")
    run_dir = Path(out.strip().splitlines()[-1])
    first = _records(run_dir)
    assert code == 0 and json.loads((run_dir / "run.json").read_text())["status"] == "budget-stopped"
    for _ in range(2):
        code, _, _ = _run(capsys, f"run.resume={run_dir}")
        assert code == 0
    records = _records(run_dir)
    used = sum(r["input_tokens"] + r["output_tokens"] for r in records)
    info = json.loads((run_dir / "run.json").read_text())
    assert used <= cap  # the cap is the run's, not each session's
    assert info["budget"]["tokens_used"] == used  # run.json counts every session's spend
    assert info["status"] == "budget-stopped" and len(info["resumes"]) == 2
    assert len(records) >= len(first) and len({r["request_id"] for r in records}) == len(records)


@pytest.mark.parametrize("content", [b"[1, 2]", b"{not json", b"\xff\xfe garbage", b'{"config": "x"}'])
def test_resume_at_a_malformed_run_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    content: bytes) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_bytes(content)
    code, out, err = _run(capsys, f"run.resume={run_dir}")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert str(run_dir / "run.json") in err
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]  # nothing written


def test_resume_of_a_run_without_fingerprint_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *FAST, f"run.out_dir={tmp_path}", "suite=reasoning", "suite.sample_size=2",
                        "apis=[converse]", "regions=[us-east-1]")
    run_dir = Path(out.strip().splitlines()[-1])
    info = json.loads((run_dir / "run.json").read_text())
    del info["fingerprint"]
    (run_dir / "run.json").write_text(json.dumps(info))
    code, _, err = _run(capsys, f"run.resume={run_dir}")
    assert code == 2 and "no input fingerprint" in err
    code, _, _ = _run(capsys, f"run.resume={run_dir}", "run.resume_force=true")
    assert code == 0 and len(_records(run_dir)) == 2


def test_budget_cap_holds_across_kill_9(tmp_path: Path) -> None:
    """Killed mid-run (run.json never finalised): the resume recounts spend from the records and stops at the cap."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cap, out = 3000, tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "evals.cli", "run", "suite=reasoning", "suite.sample_size=40",
                             "apis=[converse]", "regions=[us-east-1]", "target.latency_profile=fixed",
                             "target.fixed_latency_ms=200", "load.concurrency=1", f"run.max_tokens_total={cap}",
                             f"run.out_dir={out}", "run.progress=false", "run.report=false", "run.history=false"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any(p.read_bytes().count(b"\n") >= 2 for p in out.glob("*/records.jsonl")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (run_dir,) = list(out.iterdir())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    done = subprocess.run([sys.executable, "-m", "evals.cli", "run", f"run.resume={run_dir}"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = _records(run_dir)
    used = sum(r["input_tokens"] + r["output_tokens"] for r in records)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "budget-stopped" and used <= cap and info["budget"]["tokens_used"] == used
    assert len({r["request_id"] for r in records}) == len(records) < 40
