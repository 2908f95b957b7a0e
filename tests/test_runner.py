"""Runner behaviour that end-to-end runs cannot provoke on demand: scorer failures, fatal errors, stops.

The sender here is a plain object returning transport Outcomes, so these tests exercise the runner's own
bookkeeping; the transport and emulator are tested end to end elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from evals.cards import Pricing
from evals.results.rundir import RecordWriter, RunDirectory
from evals.run.budget import Budget
from evals.run.limiter import RegionLimiters
from evals.run.outcome import Outcome
from evals.run.runner import Runner
from evals.run.schedule import ClosedLoop, ConstantRate
from evals.types import InferenceParams, Reply, Request, Sample


def _requests(n: int) -> list[Request]:
    return [
        Request(request_id=f"r{i}", index=i, suite="s", suite_version="1", sample=Sample(id=f"q{i}", prompt="p"),
                params=InferenceParams(max_tokens=8), api="converse", region="us-east-1", tier="default",
                model_id="m", repeat=0)
        for i in range(n)
    ]


class FakeSender:
    def __init__(self, fatal_after: int | None = None, delay_s: float = 0.0) -> None:
        self.calls = 0
        self.fatal_after = fatal_after
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def send(self, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> Outcome:
        with self.lock:
            self.calls += 1
            fatal = self.fatal_after is not None and self.calls > self.fatal_after
        t0 = time.perf_counter_ns()
        time.sleep(self.delay_s)
        t1 = time.perf_counter_ns()
        if fatal:
            return Outcome("error", None, "UnrecognizedClientException", "fatal", "bad key", 403, 1, 0, 0.0,
                           t_intended_ns, t0, None, t1, (t1 - t0) / 1e6)
        reply = Reply(text="answer", stop_reason="end_turn", input_tokens=3, output_tokens=2, server_latency_ms=0.1)
        return Outcome("ok", reply, None, None, None, 200, 1, 0, 0.0, t_intended_ns, t0, None, t1, (t1 - t0) / 1e6)


def _runner(tmp_path: Path, sender: FakeSender, score) -> tuple[Runner, RunDirectory]:
    run = RunDirectory.create(tmp_path, "run")
    runner = Runner(
        run_id="run", origin_ns=time.perf_counter_ns(), sender=sender, writer=RecordWriter(run.records_file),
        pricing=Pricing(0.001, 0.002), limiters=RegionLimiters.uniform(["us-east-1"], 10_000, 10**9, enabled=True),
        budget=Budget(Pricing(0.001, 0.002), None, None), score=score, metadata_for=lambda r: {},
        max_tokens_for=lambda r: 8,
    )
    return runner, run


def _records(run: RunDirectory) -> list[dict]:
    return [json.loads(line) for line in run.records_file.read_text().splitlines()]


def test_a_scorer_that_raises_leaves_the_answer_unscored_and_keeps_every_record(tmp_path: Path) -> None:
    def score(request: Request, text: str) -> dict[str, float]:
        if request.index % 2:
            raise RuntimeError("scorer bug")
        return {"exact": 1.0}

    for strategy in (ClosedLoop(1), ConstantRate(500.0)):
        runner, run = _runner(tmp_path / type(strategy).__name__, FakeSender(), score)
        runner.execute(_requests(6), strategy, drain_timeout_s=5)
        runner.writer.close()
        records = _records(run)
        assert len(records) == 6 and all(r["status"] == "ok" for r in records)
        broken = [r for r in records if r["index"] % 2]
        assert all(r["score"] is None and r["score_error"] == "RuntimeError: scorer bug" for r in broken)
        assert all(r["score"] == 1.0 for r in records if not r["index"] % 2)
        assert runner.budget.state.tokens_reserved == 0


def test_a_fatal_error_halts_the_run(tmp_path: Path) -> None:
    sender = FakeSender(fatal_after=2)
    runner, run = _runner(tmp_path, sender, lambda r, t: {"exact": 1.0})
    runner.execute(_requests(20), ClosedLoop(1), drain_timeout_s=5)
    runner.writer.close()
    records = _records(run)
    assert [r["status"] for r in records] == ["ok", "ok", "error"]
    assert runner.tally.stop_reason == "fatal" and "UnrecognizedClientException" in runner.tally.stop_detail
    assert sender.calls == 3


class BrokenSender(FakeSender):
    """A sender whose second call raises, as a bug in the harness would."""

    def send(self, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> Outcome:
        with self.lock:
            broken = self.calls == 1
        if broken:
            with self.lock:
                self.calls += 1
            raise TypeError("harness bug")
        return super().send(request, t_intended_ns, metadata)


@pytest.mark.parametrize("strategy", [ClosedLoop(2), ConstantRate(500.0)], ids=["closed", "open"])
def test_an_exception_escaping_a_send_ends_the_run_failed_and_named(tmp_path: Path, strategy) -> None:
    runner, run = _runner(tmp_path, BrokenSender(), lambda r, t: {"exact": 1.0})
    runner.execute(_requests(20), strategy, drain_timeout_s=5)
    runner.writer.close()
    assert runner.tally.stop_reason == "fatal"
    assert "TypeError: harness bug" in (runner.tally.stop_detail or "")
    assert len(_records(run)) < 20  # the run stopped instead of going on at lower concurrency


class GatedSender(FakeSender):
    """Holds every request until `n` are in flight at once, noting which worker thread sent each and when."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.arrivals: list[str] = []
        self.all_in_flight = threading.Event()

    def send(self, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> Outcome:
        with self.lock:
            self.arrivals.append(threading.current_thread().name)
            if len(self.arrivals) == self.n:
                self.all_in_flight.set()
        self.all_in_flight.wait(timeout=30)
        return super().send(request, t_intended_ns, metadata)


def test_a_ramped_closed_loop_starts_its_workers_in_order_and_none_waits_for_a_completion(tmp_path: Path) -> None:
    strategy = ClosedLoop(4, ramp_s=0.4)
    assert [strategy.worker_start_s(k) for k in range(4)] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    sender = GatedSender(4)
    runner, run = _runner(tmp_path, sender, lambda r, t: {"exact": 1.0})
    before_ms = (time.perf_counter_ns() - runner.origin_ns) / 1e6
    runner.execute(_requests(4), strategy, drain_timeout_s=35)
    runner.writer.close()
    records = _records(run)
    # all four were in flight together (the gate opened on the fourth arrival, not on its timeout): no worker
    # waited for a completion
    assert sender.all_in_flight.is_set() and len(records) == 4
    assert sorted(sender.arrivals) == [f"closed-{k}" for k in range(4)]
    # worker k never starts before its ramp offset (a lower bound, whatever the machine's load): the k-th request
    # to be intended is at least k x 100 ms after execute() began
    intended = sorted(r["t_intended_ms"] - before_ms for r in records)
    assert all(t >= k * 100.0 - 0.01 for k, t in enumerate(intended)), intended  # records round to us
    assert all(r["t_intended_ms"] <= r["t_sent_ms"] for r in records)


@pytest.mark.serial
def test_an_abort_ends_the_wait_for_requests_in_flight(tmp_path: Path) -> None:
    for strategy in (ClosedLoop(2), ConstantRate(1000.0)):
        runner, run = _runner(tmp_path / type(strategy).__name__, FakeSender(delay_s=3.0), lambda r, t: {"x": 1.0})
        runner.max_in_flight = 2
        threading.Timer(0.2, runner.abort).start()
        started = time.monotonic()
        runner.execute(_requests(10), strategy, drain_timeout_s=30)
        assert time.monotonic() - started < 2.5  # not the 3 s the requests take, nor the 30 s drain bound
        runner.writer.close()
        assert runner.tally.stop_reason == "interrupted" and runner.tally.abandoned == 2
        assert _records(run) == []


@pytest.mark.serial
def test_requests_queued_before_a_stop_are_not_sent(tmp_path: Path) -> None:
    sender = FakeSender(delay_s=0.05)
    runner, run = _runner(tmp_path, sender, lambda r, t: {"exact": 1.0})
    runner.max_in_flight = 2
    threading.Timer(0.08, runner.interrupt).start()
    runner.execute(_requests(200), ConstantRate(1000.0), drain_timeout_s=5)
    runner.writer.close()
    assert runner.tally.stop_reason == "interrupted"
    assert sender.calls <= 6  # only what was in flight around the stop, not the queue behind it
    assert len(_records(run)) == sender.calls


def test_gc_pauses_freezes_start_up_objects_and_times_each_collection() -> None:
    import gc

    from evals.gcpause import GcPauses

    start_up = [{"n": i} for i in range(50_000)]  # stands in for suites, Hydra and service models
    with GcPauses() as pauses:
        assert gc.get_freeze_count() >= len(start_up)  # out of every collection's walk
        gc.collect()
        gc.collect()
    assert gc.get_freeze_count() == 0  # given back to the collector once the run is done
    summary = pauses.summary()
    assert summary["collections"] >= 2
    assert 0 < summary["max_pause_ms"] <= summary["total_pause_ms"]
    del start_up


@pytest.mark.serial
def test_a_long_quota_wait_is_announced_with_its_end_and_counted(tmp_path: Path, capsys) -> None:
    from evals.run.limiter import QuotaLimiter

    runner, run = _runner(tmp_path, FakeSender(), lambda r, t: {"exact": 1.0})
    runner.limiters._limiters["us-east-1"] = QuotaLimiter(2, 10**9, window_s=1.6)  # 2 requests per 1.6 s
    runner.execute(_requests(3), ClosedLoop(1), drain_timeout_s=5)
    runner.writer.close()
    assert len(_records(run)) == 3
    err = capsys.readouterr().err
    assert err.count("waiting for quota (us-east-1), resumes in ") == 1 and err.strip().endswith(" s")
    waits = runner.tally.quota_summary()
    assert waits["requests"] == 1 and 1.0 < waits["total_s"] < 5 and waits["longest_s"] == waits["total_s"]
