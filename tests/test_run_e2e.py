"""`bedrock-evals run` end to end against the emulator: real boto3, real sockets, real run directories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evals.cli import main
from evals.emulator import Emulator, EmulatorOptions
from evals.results.schema import RECORD_FIELDS, RUN_FIELDS, RUN_SCHEMA_VERSION
from evals.stats import wilson_interval

FAST = ["target.latency_profile=zero", "run.report=false", "run.progress=false"]


def run_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str], *overrides: str) -> tuple[Path, list[dict], dict]:
    code = main(["run", *FAST, f"run.out_dir={tmp_path}", *overrides])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    run_dir = Path(out[-1])  # the last line printed is the run directory
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    info = json.loads((run_dir / "run.json").read_text())
    return run_dir, records, info


@pytest.mark.parametrize("processes", [1, 2])
def test_every_api_on_two_regions_with_streaming_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], processes: int
) -> None:
    _, records, info = run_ok(
        tmp_path, capsys, "model=llama3-3-70b", "suite=reasoning", "suite.sample_size=4",
        "apis=[converse,invoke,converse_stream,invoke_stream]", "regions=[us-east-1,us-west-2]",
        f"transport.processes={processes}",
    )
    assert info["config"]["transport"]["processes"] == processes
    assert set(info["client_gc"]) == {"collections", "total_pause_ms", "max_pause_ms"}
    assert info["status"] == "completed"
    assert info["schema"] == RUN_SCHEMA_VERSION and set(info) <= set(RUN_FIELDS)  # every key documented
    assert len(records) == info["planned"] == 4 * 4 * 2
    apis = ("converse", "invoke", "converse_stream", "invoke_stream")
    assert Counter((r["api"], r["region"]) for r in records) == {
        (a, g): 4 for a in apis for g in ("us-east-1", "us-west-2")
    }
    documented = (Path(__file__).parent.parent / "docs" / "running.md").read_text()
    assert all(f"| `{name}` |" in documented for name in RECORD_FIELDS)
    for rec in records:
        assert set(rec) == set(RECORD_FIELDS)  # records carry exactly the documented schema
        assert rec["status"] == "ok", rec["error_message"]
        assert rec["input_tokens"] > 0 and rec["output_tokens"] > 0
        assert rec["server_latency_ms"] is not None
        assert rec["latency_ms"] > 0 and rec["t_done_ms"] >= rec["t_sent_ms"] >= rec["t_intended_ms"]
        assert rec["model_id"] == "us.meta.llama3-3-70b-instruct-v1:0"
        if rec["api"].endswith("_stream"):
            assert rec["ttft_ms"] is not None and 0 < rec["ttft_ms"] <= rec["latency_ms"]
            assert len(rec["itl_ms"]) == len(rec["delta_chars"]) - 1
            assert "".join("x" * n for n in rec["delta_chars"]) == "x" * len(rec["response_text"])
        else:
            assert rec["ttft_ms"] is None and rec["itl_ms"] is None


def test_throttling_storm_completes_with_throttles_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, records, info = run_ok(
        tmp_path, capsys, "suite=reasoning", "suite.sample_size=10", "apis=[converse]", "regions=[us-east-1]",
        "target.quota_scale=0.005", "transport.client_rate_limit=false", "transport.max_attempts=2",
        "load.concurrency=4", "run.max_error_rate=1",
    )
    assert info["status"] == "completed"
    assert len(records) == 10  # nothing dropped
    throttled = [r for r in records if r["error_code"] == "ThrottlingException"]
    assert throttled, "a quota of 4 requests/minute must throttle 10 requests"
    for rec in throttled:
        assert rec["status"] == "error" and rec["error_class"] == "throttle"
        assert rec["attempts"] == 2 and rec["throttles"] == 2
        assert rec["backoff_ms"] > 0
        assert rec["score"] is None
    assert info["counts"]["throttled"] >= len(throttled)
    assert info["counts"]["ok"] + info["counts"]["errors"] == 10


def test_oracle_accuracy_lands_in_its_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = 0.7
    _, records, _ = run_ok(
        tmp_path, capsys, "suite=reasoning", "suite.sample_size=400", "apis=[converse]", "regions=[us-east-1]",
        "target.engine=oracle", f"target.oracle_accuracy={p}", "load.concurrency=8",
    )
    scores = [r["score"] for r in records if r["status"] == "ok"]
    assert len(scores) == 400
    interval = wilson_interval(int(sum(scores)), len(scores))
    assert interval.low <= p <= interval.high, interval


def test_budget_cap_stops_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, records, info = run_ok(
        tmp_path, capsys, "suite=reasoning", "suite.sample_size=50", "apis=[converse]", "regions=[us-east-1]",
        "run.max_tokens_total=3000", "load.concurrency=2",
    )
    assert info["status"] == "budget-stopped"
    assert "max_tokens_total" in info["stop_detail"]
    assert 0 < len(records) < 50
    used = sum(r["input_tokens"] + r["output_tokens"] for r in records)
    assert used <= 3000


def test_poisson_open_loop_records_intended_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, records, info = run_ok(
        tmp_path, capsys, "suite=reasoning", "suite.sample_size=20", "apis=[converse]", "regions=[us-east-1]",
        "load=poisson", "load.rate=100", "load.duration_s=1.0",
    )
    intended = sorted(r["t_intended_ms"] for r in records)
    assert 70 <= len(records) <= 130  # ~100 arrivals in one second
    assert intended[-1] - intended[0] < 1000  # the dispatch window is one second
    assert all(r["send_lag_ms"] is not None and r["send_lag_ms"] >= 0 for r in records)
    assert info["flags"]["send_lag_p99_ms"] is not None
    assert len({r["request_id"] for r in records}) == len(records)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "evals.cli", *args]


def _wait_for_records(path: Path, count: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return path.read_text().count("\n")
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} records")


def _only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]  # beside it: the history index
    return run_dir


SLOW_RUN = [
    "suite=reasoning", "suite.sample_size=60", "apis=[converse,invoke]", "regions=[us-east-1]",
    "target.latency_profile=fixed", "target.fixed_latency_ms=60", "load.concurrency=3",
    "run.report=false", "run.progress=false",
]


def test_resume_after_sigkill_gives_exactly_one_record_per_request(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli("run", *SLOW_RUN, f"run.out_dir={out}"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not out.exists() or not any(out.iterdir()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.05)
        run_dir = _only_run_dir(out)
        _wait_for_records(run_dir / "records.jsonl", 10, 60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and the emulator it started
        proc.wait()
    before = (run_dir / "records.jsonl").read_text().count("\n")
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "running"  # killed: never finalised
    assert before < info["planned"] == 120

    done = subprocess.run(_cli("run", f"run.resume={run_dir}"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(run_dir)
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    ids = Counter(r["request_id"] for r in records)
    assert len(ids) == 120 and set(ids.values()) == {1}
    first = [r for r in records if r["session"] == 0]
    resumed = [r for r in records if r["session"] == 1]
    assert len(first) == before and len(resumed) == 120 - before
    # one timeline: the resumed session's requests come after the first session's, never overlapping it
    assert min(r["t_sent_ms"] for r in resumed) > max(r["t_done_ms"] for r in first)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and len(info["resumes"]) == 1


@pytest.mark.parametrize("processes", [1, 2])
def test_ctrl_c_stops_sending_and_marks_interrupted(tmp_path: Path, processes: int) -> None:
    out = tmp_path / "out"
    # requests long enough that the Ctrl-C lands while some are in flight
    args = [a if not a.startswith("target.fixed_latency_ms=") else "target.fixed_latency_ms=1500" for a in SLOW_RUN]
    proc = subprocess.Popen(_cli("run", *args, f"run.out_dir={out}", f"transport.processes={processes}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not out.exists() or not any(out.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    run_dir = _only_run_dir(out)
    _wait_for_records(run_dir / "records.jsonl", 4, 60)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the run, its emulator and its sender processes
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stdout.strip().splitlines()[-1] == str(run_dir)
    info: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted"
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(records) == info["counts"]["records"] < 120
    assert len({r["request_id"] for r in records}) == len(records)
    # the requests in flight at the Ctrl-C were drained, not cut off: the emulator kept answering them
    assert all(r["status"] == "ok" for r in records), Counter(r["error_code"] for r in records)


def test_sweep_runs_each_level_with_its_own_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, records, info = run_ok(
        tmp_path, capsys, "suite=reasoning", "suite.sample_size=6", "apis=[converse]", "regions=[us-east-1]",
        "load=sweep", "load.levels=[1,4]",
    )
    assert info["status"] == "completed"
    assert Counter(r["load_level"] for r in records) == {1.0: 6, 4.0: 6}
    assert len({r["request_id"] for r in records}) == 12
    # level 1 finished before level 4 started
    assert max(r["t_done_ms"] for r in records if r["load_level"] == 1.0) <= min(
        r["t_sent_ms"] for r in records if r["load_level"] == 4.0)


def test_judge_scorer_goes_through_the_transport(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    # with the echo engine the judged response is the prompt, and the judge echoes its own prompt back:
    # the verdict line planted in the task decides the score, proving the judge call made the round trip
    tasks.write_text(
        json.dumps({"id": "good", "prompt": "Say hi.\nVERDICT: CORRECT", "answer": "hi"}) + "\n"
        + json.dumps({"id": "bad", "prompt": "Say hi.\nVERDICT: INCORRECT", "answer": "hi"}) + "\n"
    )
    _, records, info = run_ok(
        tmp_path, capsys, "suite=jsonl", f"suite.path={tasks}", "suite.scorer=judge", "target.engine=echo",
        "apis=[converse]", "regions=[us-east-1]", "judge.model=llama4-maverick",
    )
    scores = {r["sample_id"]: r["score"] for r in records}
    assert scores == {"good": 1.0, "bad": 0.0}
    assert info["judge"]["calls"] == 2 and info["judge"]["errors"] == 0
    assert info["judge"]["input_tokens"] > 0


def test_judge_scorer_without_a_judge_model_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "a", "prompt": "Say hi.", "answer": "hi"}) + "\n")
    code = main(["run", *FAST, f"run.out_dir={tmp_path / 'out'}", "suite=jsonl", f"suite.path={tasks}",
                 "suite.scorer=judge"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "judge.model" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_multirun_gives_one_run_directory_per_job(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        _cli("run", "-m", "run.seed=1,2", *FAST, "run.progress=false", "suite=reasoning", "suite.sample_size=3",
             "apis=[converse]", "regions=[us-east-1]", f"run.out_dir={out}"),
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    sweep = Path(done.stdout.strip().splitlines()[-1])  # the sweep folder holds the jobs (tests/test_sweep.py)
    run_dirs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name.rsplit("-", 3)[1] for p in run_dirs] == ["j0", "j1"]
    seeds = [json.loads((p / "run.json").read_text())["config"]["run"]["seed"] for p in run_dirs]
    assert sorted(seeds) == [1, 2]
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "outputs").exists()


def test_second_ctrl_c_aborts_the_wait_but_still_finishes_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    slow = {"latency_profile": "fixed", "fixed_latency_ms": 3000}
    with Emulator(EmulatorOptions.from_dict(slow)) as emu:
        overrides = [o for o in SLOW_RUN if not o.startswith("target.")]
        proc = subprocess.Popen(_cli("run", *overrides, f"target.endpoints_file={emu.endpoints_file}",
                                     f"run.out_dir={out}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while emu.stats()["total_requests"] < 3:  # three requests in flight (closed loop of 3)
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        for line in proc.stderr:  # the second Ctrl-C only after the run said it saw the first
            if line.startswith("interrupted:"):
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)  # far less than the 30 s drain bound
    assert proc.returncode == 130, stderr
    assert "aborted" in stderr
    info = json.loads((_only_run_dir(out) / "run.json").read_text())
    assert info["status"] == "interrupted"
    assert info["counts"]["abandoned_in_flight"] == 3 and info["counts"]["records"] == 0


def test_precision_stop_ends_the_run_once_every_cell_is_known_well_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, records, info = run_ok(
        tmp_path, capsys, "suite=reasoning", "suite.generator.n=1500", "suite.sample_size=1500", "apis=[converse]",
        "regions=[us-east-1]", "target.engine=oracle", "target.oracle_accuracy=0.9", "run.stop_at_half_width=0.06",
        "load.concurrency=4",
    )
    assert info["status"] == "completed" and "within ±0.06" in info["stop_detail"]
    assert 100 < len(records) < 1500
    scores = [r["score"] for r in records]
    interval = wilson_interval(int(sum(scores)), len(scores))
    assert interval.high - interval.low < 2 * 0.06  # a fixed-n interval at the stop is at least as narrow
