"""Execute a plan under a load strategy: pace, limit, send, score, record. Nothing here builds bodies or
parses responses (apis/, transport) or computes statistics (stats); it only moves requests through time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm import tqdm

from evals.cards import Pricing
from evals.run.budget import Budget, estimate_input_tokens
from evals.run.judge import JudgeUnavailable
from evals.run.limiter import RegionLimiters
from evals.run.measure import OutcomeLike, build_record
from evals.run.schedule import ClosedLoop, Strategy
from evals.storage import RecordWriter
from evals.types import Request


class Sender(Protocol):
    def send(self, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> OutcomeLike: ...


QUOTA_NOTICE_S = 1.0  # a predicted quota wait longer than this is shown
QUOTA_COUNT_S = 0.05  # a request held longer than this by the limiter counts as a quota wait


@dataclass
class RunTally:
    """Live counts for the progress bar and run.json."""

    done: int = 0
    ok: int = 0
    errors: int = 0
    throttled: int = 0
    abandoned: int = 0
    in_flight: int = 0
    stop_reason: str | None = None  # None | "interrupted" | "budget" | "fatal" | "precision" | "storage"
    stop_detail: str | None = None
    quota_waits: int = 0  # requests that waited for the client-side quota limiter
    quota_wait_s: float = 0.0
    quota_wait_longest_s: float = 0.0
    quota_resume_at: float = 0.0  # monotonic time the announced quota wait ends (0: none announced)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def quota_summary(self) -> dict[str, Any]:
        """For run.json: how many requests waited for quota and for how long in all."""
        return {"requests": self.quota_waits, "total_s": round(self.quota_wait_s, 3),
                "longest_s": round(self.quota_wait_longest_s, 3)}

    def add(self, record: Mapping[str, Any]) -> None:
        with self.lock:
            self.done += 1
            if record["status"] == "ok":
                self.ok += 1
            else:
                self.errors += 1
            if record["throttles"]:
                self.throttled += 1


@dataclass
class Runner:
    """Holds what every request needs; `execute` runs one group of requests under one strategy."""

    run_id: str
    origin_ns: int
    sender: Sender
    writer: RecordWriter
    pricing: Pricing
    limiters: RegionLimiters
    budget: Budget
    score: Callable[[Request, str], dict[str, float]]
    metadata_for: Callable[[Request], Mapping[str, str]]
    max_tokens_for: Callable[[Request], int]
    stop: threading.Event = field(default_factory=threading.Event)
    aborted: threading.Event = field(default_factory=threading.Event)  # stop waiting for requests in flight
    tally: RunTally = field(default_factory=RunTally)
    progress: tqdm | None = None
    duration_s: float | None = None
    max_in_flight: int = 256
    session: int = 0
    on_record: Callable[[dict[str, Any]], str | None] | None = None  # a reason string stops the run early

    def _one(self, request: Request, t_intended_ns: int) -> None:
        """Send one request and write its record; called on a worker thread."""
        if self.stop.is_set():  # queued before a stop: not sent, so a resume sends it
            return
        reservation = self.budget.reserve(estimate_input_tokens(request.sample), self.max_tokens_for(request))
        if reservation is None:
            self._halt("budget")
            return
        if not self._acquire_quota(request.region, reservation[0]):
            self.budget.settle(reservation, None, None)
            return
        with self.tally.lock:
            self.tally.in_flight += 1
        try:
            outcome = self.sender.send(request, t_intended_ns, self.metadata_for(request))
        finally:
            with self.tally.lock:
                self.tally.in_flight -= 1
        reply = outcome.reply if outcome.status == "ok" else None
        self.budget.settle(reservation, reply.input_tokens if reply else 0, reply.output_tokens if reply else 0)
        scores, score_error = None, None
        if reply is not None:
            try:
                scores = self.score(request, reply.text)
            except Exception as err:  # the answer exists but could not be scored: unscored, never wrong
                score_error = str(err) if isinstance(err, JudgeUnavailable) else f"{type(err).__name__}: {err}"
        record = build_record(
            run_id=self.run_id,
            request=request,
            outcome=outcome,
            origin_ns=self.origin_ns,
            t_intended_ns=t_intended_ns,
            scores=scores,
            pricing=self.pricing,
            expected=request.sample.answer,
            score_error=score_error,
            session=self.session,
        )
        if not self.writer.write(record):  # aborted while in flight, or storage failed: a resume sends it again
            if self.writer.failure is not None:
                self._halt("storage", self.writer.failure)
            return
        self.tally.add(record)
        if outcome.error_class == "fatal":  # bad credentials, unknown region...: every request would fail
            self._halt("fatal", f"{outcome.error_code}: {outcome.error_message}")
        elif self.on_record is not None and (reason := self.on_record(record)):
            self._halt("precision", reason)
        if self.progress is not None:
            self.progress.set_postfix(errors=self.tally.errors, throttled=self.tally.throttled, refresh=False)
            self.progress.update(1)

    def _acquire_quota(self, region: str, tokens: int) -> bool:
        """The limiter's acquire, timed and counted; a wait of over QUOTA_NOTICE_S is announced with the time it
        ends, on the progress bar or (without one) as a line on stderr, once per wait."""
        wait = self.limiters.resume_in(region, tokens)
        if wait > QUOTA_NOTICE_S:
            self._announce_quota_wait(region, wait)
        started = time.monotonic()
        acquired = self.limiters.acquire(region, tokens, self.stop)
        waited = time.monotonic() - started
        with self.tally.lock:
            if waited > QUOTA_COUNT_S:
                self.tally.quota_waits += 1
                self.tally.quota_wait_s += waited
                self.tally.quota_wait_longest_s = max(self.tally.quota_wait_longest_s, waited)
            done_waiting = self.tally.quota_resume_at and time.monotonic() >= self.tally.quota_resume_at
            if done_waiting:
                self.tally.quota_resume_at = 0.0
        if done_waiting and self.progress is not None:
            self.progress.set_postfix(errors=self.tally.errors, throttled=self.tally.throttled)
        return acquired

    def _announce_quota_wait(self, region: str, wait: float) -> None:
        now = time.monotonic()
        with self.tally.lock:
            if now + wait <= self.tally.quota_resume_at + 1.0:
                return  # a wait ending at (about) the same time is already on screen
            self.tally.quota_resume_at = now + wait
        text = f"waiting for quota ({region}), resumes in {wait:.0f} s"
        if self.progress is not None:
            self.progress.set_postfix_str(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def _halt(self, reason: str, detail: str | None = None) -> None:
        """Stop dispatching for good: "interrupted" (Ctrl-C), "budget" (a cap would be passed), "fatal" or
        "precision" (every cell's score is known precisely enough)."""
        with self.tally.lock:
            if self.tally.stop_reason is None:
                self.tally.stop_reason = reason
                self.tally.stop_detail = detail
        self.stop.set()

    def _fail_internally(self, err: Exception) -> None:
        """An exception escaping a send is a bug in the harness: the run stops and ends failed, naming it."""
        self._halt("fatal", f"internal error while sending: {type(err).__name__}: {err}")

    def interrupt(self) -> None:
        self._halt("interrupted")

    def abort(self) -> None:
        """Stop waiting for requests in flight: they count as abandoned and stay unrecorded."""
        self._halt("interrupted")
        with self.tally.lock:
            if self.aborted.is_set():
                return
            self.tally.abandoned += self.tally.in_flight
            self.aborted.set()

    def execute(self, requests: Sequence[Request], strategy: Strategy, drain_timeout_s: float) -> None:
        """Run one group (a whole plan, or one sweep level); `duration_s` bounds its dispatch window."""
        if not requests or self.stop.is_set():
            return
        start_ns = time.perf_counter_ns()
        deadline_ns = start_ns + int(self.duration_s * 1e9) if self.duration_s else None
        if isinstance(strategy, ClosedLoop):
            self._closed(requests, strategy, start_ns, deadline_ns, drain_timeout_s)
        else:
            self._open(requests, strategy, start_ns, deadline_ns, drain_timeout_s)

    def _closed(
        self,
        requests: Sequence[Request],
        strategy: ClosedLoop,
        start_ns: int,
        deadline_ns: int | None,
        drain_timeout_s: float,
    ) -> None:
        it = iter(requests)
        lock = threading.Lock()

        def worker(k: int) -> None:
            try:
                loop(k)
            except Exception as err:  # a bug must stop the run as failed, not quietly shrink its concurrency
                self._fail_internally(err)

        def loop(k: int) -> None:
            begin_ns = start_ns + int(strategy.worker_start_s(k) * 1e9)
            while (remaining := (begin_ns - time.perf_counter_ns()) / 1e9) > 0:
                if self.stop.wait(min(remaining, 0.05)):
                    return
            while not self.stop.is_set():
                now = time.perf_counter_ns()
                if deadline_ns is not None and now >= deadline_ns:
                    return
                with lock:
                    request = next(it, None)
                if request is None:
                    return
                self._one(request, now)

        threads = [threading.Thread(target=worker, args=(k,), daemon=True, name=f"closed-{k}")
                   for k in range(strategy.concurrency)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads) and not self.stop.wait(0.1):
            pass
        # After a stop, in-flight requests get a bounded time to land (an abort ends the wait); the rest are left
        # to a resume.
        bound = time.monotonic() + drain_timeout_s
        while any(t.is_alive() for t in threads) and (left := bound - time.monotonic()) > 0:
            if self.aborted.wait(min(left, 0.05)):
                return  # abort() counted what was in flight
        self.tally.abandoned += sum(1 for t in threads if t.is_alive())

    def _open(
        self,
        requests: Sequence[Request],
        strategy: Strategy,
        start_ns: int,
        deadline_ns: int | None,
        drain_timeout_s: float,
    ) -> None:
        pool = ThreadPoolExecutor(max_workers=self.max_in_flight, thread_name_prefix="open")
        futures = []
        for i, request in enumerate(requests):
            offset = strategy.intended_offset_s(i)
            assert offset is not None  # an open-loop strategy plans every send
            due_ns = start_ns + int(offset * 1e9)
            if deadline_ns is not None and due_ns >= deadline_ns:
                break
            # Sleep in slices so a Ctrl-C or budget stop is seen promptly; never wait for completions.
            while (remaining := (due_ns - time.perf_counter_ns()) / 1e9) > 0:
                if self.stop.wait(min(remaining, 0.05)):
                    break
            if self.stop.is_set():
                break
            futures.append(pool.submit(self._one, request, due_ns))
        # Wait for every request sent; after a stop only for a bounded time, and not at all after an abort.
        pending: set[Future[None]] = set(futures)
        bound: float | None = None
        while pending and not self.aborted.is_set():
            slice_s = 0.05
            if self.stop.is_set():
                bound = bound if bound is not None else time.monotonic() + drain_timeout_s
                if (left := bound - time.monotonic()) <= 0:
                    break
                slice_s = min(slice_s, left)
            done, pending = wait(pending, timeout=slice_s)
            for fut in done:
                if (err := fut.exception()) is not None and isinstance(err, Exception):
                    self._fail_internally(err)
        if not self.aborted.is_set():
            self.tally.abandoned += len(pending)
        pool.shutdown(wait=not pending, cancel_futures=True)


def progress_bar(total: int, enabled: bool) -> tqdm | None:
    if not enabled:
        return None
    return tqdm(total=total, file=sys.stderr, unit="req", dynamic_ncols=True, mininterval=0.25, leave=True)
