"""Run directories (append-only, never overwritten, torn tails), the quota limiter and budget caps."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from evals.cards import Pricing
from evals.errors import UserInputError
from evals.results.rundir import RecordWriter, RunDirectory
from evals.run.budget import Budget, estimate_input_tokens
from evals.run.limiter import QuotaLimiter
from evals.types import ImageInput, Sample


def test_run_directory_is_never_overwritten(tmp_path: Path) -> None:
    RunDirectory.create(tmp_path, "run-1")
    with pytest.raises(UserInputError, match="never overwritten"):
        RunDirectory.create(tmp_path, "run-1")


CELL = {"suite": "s", "region": "us-east-1", "api": "converse", "tier": "default"}


def test_torn_tail_is_cut_and_finished_ids_read(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path, "r")
    writer = RecordWriter(run.records_file)
    writer.write({"request_id": "a", "status": "ok", **CELL})
    writer.write({"request_id": "b", "status": "error", **CELL})
    writer.close()
    with run.records_file.open("a") as fh:
        fh.write('{"request_id": "c", "sta')  # killed mid-write
    assert run.finished_request_ids() == {"a", "b"}
    removed = run.repair_torn_tail()
    assert removed == len('{"request_id": "c", "sta')
    assert run.records_file.read_text().count("\n") == 2
    assert run.repair_torn_tail() == 0


def test_writer_lines_are_whole_under_threads(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path, "r")
    writer = RecordWriter(run.records_file)

    def burst(k: int) -> None:
        for i in range(200):
            writer.write({"request_id": f"{k}-{i}", "status": "ok", "text": "x" * (i % 50)})

    threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    lines = run.records_file.read_text().splitlines()
    assert len(lines) == 800
    assert len({json.loads(line)["request_id"] for line in lines}) == 800


def test_a_record_without_the_contract_keys_is_named(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path, "r")
    run.records_file.write_text(json.dumps({"request_id": "a", "status": "ok", **CELL}) + "\n"
                                + json.dumps({"broken": 1}) + "\n")
    with pytest.raises(UserInputError, match=r"records\.jsonl:2: record lacks request_id, status, suite"):
        list(run.iter_records())


def test_writer_refuses_records_after_close(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path, "r")
    writer = RecordWriter(run.records_file)
    assert writer.write({"request_id": "a", "status": "ok", **CELL})
    writer.close()
    assert not writer.write({"request_id": "b", "status": "ok", **CELL})
    assert writer.late == 1 and run.records_file.read_text().count("\n") == 1


def test_one_process_at_a_time_per_run_directory(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = RunDirectory.create(tmp_path, "r")
    run.lock()
    code = "from evals.results.rundir import RunDirectory; from pathlib import Path; RunDirectory(Path(%r)).lock()"
    other = subprocess.run([sys.executable, "-c", code % str(run.path)], capture_output=True, text=True)
    assert other.returncode != 0 and "in use by another bedrock-evals run" in other.stderr


def test_open_existing_requires_run_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not a run directory"):
        RunDirectory.open_existing(tmp_path)


@pytest.mark.serial
def test_limiter_blocks_past_requests_per_window() -> None:
    limiter = QuotaLimiter(requests_per_minute=3, tokens_per_minute=10_000, window_s=0.3)
    t0 = time.monotonic()
    for _ in range(3):
        assert limiter.acquire(10)
    assert time.monotonic() - t0 < 0.1
    assert limiter.acquire(10)  # the fourth waits for the window to slide
    assert time.monotonic() - t0 >= 0.29


def test_limiter_reserves_tokens_and_stops_on_event() -> None:
    limiter = QuotaLimiter(requests_per_minute=100, tokens_per_minute=100, window_s=30)
    assert limiter.acquire(80)
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    assert limiter.acquire(30, stop) is False


def test_budget_refuses_a_request_that_could_pass_the_cap() -> None:
    budget = Budget(Pricing(input_per_1k=1.0, output_per_1k=2.0), max_tokens_total=None, max_cost_usd=0.05)
    r1 = budget.reserve(10, 10)  # worst case 0.01 + 0.02
    assert r1 is not None
    assert budget.reserve(10, 10) is None  # 0.03 + 0.03 > 0.05
    assert "max_cost_usd" in (budget.exhausted_reason or "")
    budget.settle(r1, 10, 2)  # actual 0.01 + 0.004
    assert budget.state.cost_used == pytest.approx(0.014)
    assert budget.reserve(10, 10) is not None


def test_input_estimate_counts_images_generously() -> None:
    text = Sample(id="a", prompt="x" * 300)
    img = ImageInput("png", b"\x89PNG", 672, 672)
    with_image = Sample(id="b", prompt="x" * 300, images=(img,))
    assert estimate_input_tokens(with_image) - estimate_input_tokens(text) == 5 * 144


def test_limiter_predicts_how_long_a_wait_lasts() -> None:
    limiter = QuotaLimiter(requests_per_minute=2, tokens_per_minute=100, window_s=30)
    assert limiter.resume_in(10) == 0.0
    assert limiter.acquire(60) and limiter.acquire(10)
    assert 29 < limiter.resume_in(10) <= 30  # two requests in the window: the first must leave it
    tokens = QuotaLimiter(requests_per_minute=100, tokens_per_minute=100, window_s=30)
    assert tokens.acquire(50) and tokens.acquire(40)
    assert tokens.resume_in(5) == 0.0 and 29 < tokens.resume_in(20) <= 30


def test_docs_records_md_is_generated_from_the_schema() -> None:
    from evals.results.schema import RECORD_FIELDS, markdown

    text = (Path(__file__).parent.parent / "docs" / "records.md").read_text(encoding="utf-8")
    assert text == markdown(), "regenerate: python -m evals.results.schema > docs/records.md"
    assert all(f"| `{field}` |" in text for field in RECORD_FIELDS)
