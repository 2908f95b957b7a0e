"""`transport.processes`: requests sent from worker processes, answers and timings back in the run process.

Against the real emulator over sockets: outcomes carry the same replies and stream traces as in-process sends,
the work is spread over the workers, and a worker that dies turns its requests into fatal error outcomes
instead of hanging the run.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from test_transport import make_request

from evals.apis.metadata import build_request_metadata
from evals.cards import load_card
from evals.emulator import Emulator, EmulatorOptions
from evals.errors import UserInputError
from evals.run.outcome import Outcome
from evals.run.process_sender import WORKER_EXITED, ProcessSender
from evals.run.transport_settings import TransportSettings

REGIONS = ("us-east-1",)


def _send(sender: ProcessSender, request) -> Outcome:
    return sender.send(request, time.perf_counter_ns(), build_request_metadata(request, None))


def test_worker_processes_answer_with_full_outcomes_and_share_the_load(emulator: Emulator) -> None:
    card = load_card("llama3-3-70b")
    with ProcessSender(TransportSettings(), card.family, emulator.endpoints, processes=2, concurrency=8,
                       regions=REGIONS) as sender:
        assert len(set(sender.pids)) == 2 and os.getpid() not in sender.pids
        requests = [make_request(card, api, n=n) for n in range(4)
                    for api in ("converse", "invoke", "converse_stream", "invoke_stream")]
        outcomes: list[Outcome] = [None] * len(requests)  # type: ignore[list-item]

        def worker(k: int) -> None:
            for i in range(k, len(requests), 8):
                outcomes[i] = _send(sender, requests[i])

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(s > 0 for s in sender.sent_per_process), sender.sent_per_process
    for request, out in zip(requests, outcomes, strict=True):
        assert out.ok, out.error_message
        assert out.reply is not None and out.reply.text and out.reply.output_tokens > 0
        # worker timestamps are on this process's clock: intended here, sent and done there
        assert out.t_intended_ns <= out.t_sent_ns <= out.t_done_ns <= time.perf_counter_ns()
        if request.api.endswith("_stream"):
            assert out.t_first_token_ns is not None and len(out.itl_ms) == len(out.delta_chars) - 1


def test_a_worker_that_dies_fails_its_requests_instead_of_hanging() -> None:
    card = load_card("llama4-maverick")
    options = EmulatorOptions.from_dict({"latency_profile": "fixed", "fixed_latency_ms": 30_000.0, "seed": 1})
    with Emulator(options) as emu, ProcessSender(TransportSettings(), card.family, emu.endpoints, processes=1,
                                                 concurrency=2, regions=REGIONS) as sender:
        result: list[Outcome] = []
        waiting = threading.Thread(target=lambda: result.append(_send(sender, make_request(card, "converse"))))
        waiting.start()
        deadline = time.monotonic() + 20
        while emu.stats()["total_requests"] < 1:  # the request reached the emulator: it is in flight
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(sender.pids[0], signal.SIGKILL)
        waiting.join(timeout=10)
        assert not waiting.is_alive()  # answered long before the emulator's 30 s
        (out,) = result
        assert out.status == "error" and out.error_code == WORKER_EXITED and out.error_class == "fatal"
        assert "exit code -9" in (out.error_message or "")
        later = _send(sender, make_request(card, "converse", n=1))  # no worker left: an error, at once
        assert later.error_code == WORKER_EXITED


def test_a_worker_that_cannot_build_its_clients_is_one_clear_error(emulator: Emulator) -> None:
    card = load_card("llama4-maverick")
    endpoints = {**emulator.endpoints, "credentials": {**emulator.endpoints["credentials"], "api_key": ""}}
    with pytest.raises(UserInputError, match=r"could not build its clients.*api_key"):
        ProcessSender(TransportSettings(auth="bearer"), card.family, endpoints, processes=1, concurrency=1,
                      regions=REGIONS)
