"""history: SQLite index of runs, per-cell summaries, trends and the CLI, on run directories written with the
real RunDirectory/RecordWriter."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evals import cli
from evals.results.history import default_db, index_run, list_runs, trend
from evals.results.rundir import RecordWriter, RunDirectory


def write_run(out: Path, name: str, started: str, latency: float, correct: int, n: int = 10,
              regions: tuple[str, ...] = ("us-east-1", "us-west-2"), errors: int = 0) -> Path:
    run_dir = RunDirectory.create(out, name)
    run_dir.write_run({"run_id": name, "status": "completed", "started_at": started,
                       "model": {"model_id": "m1"}, "target": {"kind": "local", "emulator": True}})
    writer = RecordWriter(run_dir.records_file)
    for region in regions:
        for i in range(n):
            ok = i >= errors
            writer.write({"request_id": f"{region}{i}", "sample_id": f"s{i}", "suite": "smoke", "region": region,
                          "api": "converse", "tier": "default", "model_id": "m1", "warmup": False,
                          "status": "ok" if ok else "error", "throttles": 1 if i == n - 1 else 0,
                          "latency_ms": latency + i if ok else None, "output_tokens": 10 if ok else None,
                          "score": (1.0 if i < correct else 0.0) if ok else None,
                          "cost_usd": 0.001 if ok else None})
        writer.write({"request_id": f"{region}-warm", "sample_id": "w", "suite": "smoke", "region": region,
                      "api": "converse", "tier": "default", "model_id": "m1", "warmup": True, "status": "ok",
                      "throttles": 0, "latency_ms": 10_000.0, "score": 0.0})
    writer.close()
    return run_dir.path


def test_index_summaries_and_trend(tmp_path: Path) -> None:
    r1 = write_run(tmp_path, "r1", "2026-11-01T00:00:00+00:00", latency=100.0, correct=8)
    r2 = write_run(tmp_path, "r2", "2026-11-02T00:00:00+00:00", latency=200.0, correct=5, errors=2)
    db = index_run(r1)
    assert db == default_db(r1) == tmp_path.resolve() / "history.sqlite"
    index_run(r2, db)
    points = trend("latency_p50", db, region="us-east-1")
    assert [p.run_id for p in points] == ["r1", "r2"]  # oldest first
    assert points[0].value == pytest.approx(104.5)  # median of 100..109; the warm-up record is excluded
    assert points[0].n == 10
    acc = trend("accuracy", db, region="us-west-2")
    assert [p.value for p in acc] == [pytest.approx(0.8), pytest.approx(3 / 8)]  # errors are not wrong answers
    errors = trend("error_rate", db, region="us-west-2")
    assert [p.value for p in errors] == [0.0, pytest.approx(0.2)]
    assert trend("throttle_rate", db, region="us-east-1")[0].value == pytest.approx(0.1)
    assert trend("ttft_p50", db)[0].value is None  # no streaming: stored as NULL, not 0
    assert [p.run_id for p in trend("latency_p90", db, last=1)] == ["r2", "r2"]
    assert trend("latency_p50", db, suite="other") == []


def test_reindex_replaces_and_list(tmp_path: Path) -> None:
    r1 = write_run(tmp_path, "r1", "2026-11-01T00:00:00+00:00", latency=100.0, correct=8)
    db = tmp_path / "sub" / "h.sqlite"
    index_run(r1, db)
    index_run(r1, db)
    runs = list_runs(db)
    assert len(runs) == 1 and runs[0]["cells"] == 2 and runs[0]["requests"] == 20
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 2


def test_history_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r1 = write_run(tmp_path, "r1", "2026-11-01T00:00:00+00:00", latency=100.0, correct=8)
    r2 = write_run(tmp_path, "r2\x1b[31m", "2026-11-02T00:00:00+00:00", latency=300.0, correct=9,
                   regions=("us-east-1",))
    db = tmp_path / "h.sqlite"
    assert cli.main(["history", "--db", str(db), "index", str(r1), str(r2)]) == 0
    capsys.readouterr()
    assert cli.main(["history", "--db", str(db), "list"]) == 0
    out = capsys.readouterr().out
    assert "r1" in out and "\x1b" not in out and "r2\\x1b[31m" in out  # control characters shown as escapes
    assert cli.main(["history", "--db", str(db), "trend", "latency_p50", "--cell", "smoke/us-west-2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "us-west-2" in lines[1] and "104.5" in lines[1]
    assert cli.main(["history", "--db", str(db), "trend", "accuracy", "--cell", "*/us-east-1/*/*"]) == 0
    assert [line.split()[-2] for line in capsys.readouterr().out.strip().splitlines()[1:]] == ["%", "%"]


def test_history_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.sqlite"
    assert cli.main(["history", "--db", str(missing), "list"]) == 2
    assert "no history index" in capsys.readouterr().err
    assert not missing.exists()  # reading never creates an index
    assert cli.main(["history", "--db", str(missing), "trend", "nope"]) == 2
    capsys.readouterr()
    assert cli.main(["history", "index", str(tmp_path / "no-run")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database", encoding="utf-8")
    assert cli.main(["history", "--db", str(junk), "list"]) == 2
    assert "junk.sqlite" in capsys.readouterr().err
