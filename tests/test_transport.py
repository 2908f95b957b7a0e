"""Transport: unit checks of settings and error classes, then end-to-end calls to the emulator.

End-to-end tests go through unmodified boto3 over real sockets to the emulator (the `emulator` fixture from
conftest.py, or a dedicated `Emulator` for fault configurations).
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from evals.apis.metadata import build_request_metadata
from evals.cards import ModelCard, load_card
from evals.errors import UserInputError
from evals.run.endpoints import LocalEndpoints
from evals.run.measure import latency_ms, tpot_ms, ttft_ms
from evals.run.outcome import CLASS_CLIENT, CLASS_FATAL, CLASS_THROTTLE, CLASS_TRANSIENT, Outcome, classify
from evals.run.transport import Transport
from evals.run.transport_settings import TransportSettings
from evals.types import (
    API_CONVERSE,
    API_CONVERSE_STREAM,
    API_INVOKE,
    API_INVOKE_STREAM,
    ImageInput,
    InferenceParams,
    Request,
    Sample,
)

REGION = "us-east-1"
LLAMA33 = load_card("llama3-3-70b")
MAVERICK = load_card("llama4-maverick")
ALL = (API_CONVERSE, API_INVOKE, API_CONVERSE_STREAM, API_INVOKE_STREAM)

# A 1x1 PNG, so Maverick gets a real image through both APIs.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d1b1b60000000049454e44ae426082"
)


def make_request(card: ModelCard, api: str, *, images: tuple[ImageInput, ...] = (), n: int = 0) -> Request:
    sample = Sample(
        id=f"s{n}",
        prompt="Name three primary colours, comma separated.",
        answer="red, yellow, blue",
        system="Answer briefly.",
        images=images,
    )
    return Request(
        request_id=f"req-{api}-{n}",
        index=n,
        suite="e2e",
        suite_version="1",
        sample=sample,
        params=InferenceParams(max_tokens=24, temperature=0.5, top_p=0.9),
        api=api,
        region=REGION,
        tier="default",
        model_id=card.invocation_id(REGION),
        repeat=0,
    )


def send(transport: Transport, request: Request, oracle_text: str | None = None) -> Outcome:
    return transport.send(request, time.perf_counter_ns(), build_request_metadata(request, oracle_text))


def assert_ordered(out: Outcome) -> None:
    assert out.t_intended_ns <= out.t_sent_ns <= out.t_done_ns
    if out.t_first_token_ns is not None:
        assert out.t_sent_ns <= out.t_first_token_ns <= out.t_done_ns
    assert 0 <= out.last_attempt_ms <= latency_ms(out) + 1e-3  # records round to 0.1 µs


# ----- unit -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, CLASS_THROTTLE),
        ("ServiceQuotaExceededException", 400, CLASS_THROTTLE),
        ("ModelNotReadyException", 429, CLASS_TRANSIENT),
        ("InternalServerException", 500, CLASS_TRANSIENT),
        ("ServiceUnavailableException", 503, CLASS_TRANSIENT),
        ("ModelTimeoutException", 408, CLASS_TRANSIENT),
        ("ReadTimeout", None, CLASS_TRANSIENT),
        ("EndpointConnectionError", None, CLASS_TRANSIENT),
        ("ValidationException", 400, CLASS_CLIENT),
        ("AccessDeniedException", 403, CLASS_CLIENT),
        ("ResourceNotFoundException", 404, CLASS_CLIENT),
        ("ModelErrorException", 424, CLASS_CLIENT),
        ("UnrecognizedClientException", 403, CLASS_FATAL),
        ("SomethingNew", 429, CLASS_THROTTLE),
        ("SomethingNew", 502, CLASS_TRANSIENT),
        ("SomethingNew", 400, CLASS_FATAL),
        ("RuntimeError", None, CLASS_FATAL),
    ],
)
def test_classify(code: str, status: int | None, expected: str) -> None:
    assert classify(code, status) == expected


def test_settings_reject_bad_values_with_one_line_errors() -> None:
    for kwargs in ({"retry_mode": "eager"}, {"auth": "basic"}, {"max_attempts": 0}, {"invoke_body_style": "x"}):
        with pytest.raises(UserInputError):
            TransportSettings(**kwargs)


FAKE_ENDPOINTS = {
    "regions": {REGION: {"https": "https://127.0.0.1:1", "http": "http://127.0.0.1:2", "ca_file": "/tmp/ca.pem"}},
    "ca_file": "/tmp/ca.pem",
    "credentials": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t-key", "api_key": "api-k3y-x"},
}


def test_secrets_never_in_repr_or_describe() -> None:
    for auth in ("sigv4", "bearer", "auto"):
        transport = Transport(TransportSettings(auth=auth), "llama3", FAKE_ENDPOINTS)
        text = repr(transport.describe()) + repr(LocalEndpoints.from_mapping(FAKE_ENDPOINTS))
        assert "s3cr3t-key" not in text and "api-k3y-x" not in text
        assert transport.describe()["auth"] == ("bearer" if auth == "bearer" else "sigv4")


def test_bearer_on_aws_without_a_token_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    with pytest.raises(UserInputError):
        Transport(TransportSettings(auth="bearer"), "llama4")


def test_unknown_region_and_unbuildable_body_become_error_outcomes() -> None:
    transport = Transport(TransportSettings(), "llama4", FAKE_ENDPOINTS)
    out = send(transport, dataclasses.replace(make_request(MAVERICK, API_CONVERSE), region="eu-west-9"))
    assert (out.status, out.error_code, out.error_class, out.attempts) == ("error", "UnknownRegion", "fatal", 0)
    bad = dataclasses.replace(make_request(MAVERICK, API_INVOKE), api="nonsense")
    out = send(transport, bad)
    assert (out.error_code, out.error_class, out.attempts) == ("BuildError", "client", 0)


def test_refused_connection_is_a_transient_error_outcome() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoints = {
        "regions": {REGION: {"http": f"http://127.0.0.1:{port}", "https": None}},
        "credentials": {"access_key_id": "AKID", "secret_access_key": "x"},
    }
    transport = Transport(TransportSettings(max_attempts=1, connect_timeout_s=1), "llama3", endpoints)
    out = send(transport, make_request(LLAMA33, API_CONVERSE))
    assert out.status == "error"
    assert out.error_code == "EndpointConnectionError"
    assert out.error_class == CLASS_TRANSIENT
    assert out.attempts == 1 and out.reply is None
    assert_ordered(out)


# ----- end to end against the emulator --------------------------------------------------------------


def _endpoints(emu: Any) -> Mapping[str, Any]:
    return emu.endpoints


@pytest.fixture(params=["sigv4", "bearer"])
def auth(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def llama33(emulator: Any, auth: str) -> Iterator[Transport]:
    with Transport(TransportSettings(auth=auth), LLAMA33.family, _endpoints(emulator), concurrency=4) as t:
        yield t


@pytest.mark.parametrize("api", ALL)
def test_llama33_every_api_both_auth_modes(llama33: Transport, emulator: Any, auth: str, api: str) -> None:
    before = emulator.stats()["auth"].get(auth, 0)
    out = send(llama33, make_request(LLAMA33, api))
    assert emulator.stats()["auth"].get(auth, 0) == before + 1  # the emulator saw this auth scheme
    assert out.status == "ok", (out.error_code, out.error_message)
    assert out.reply is not None and out.reply.text
    assert out.reply.input_tokens and out.reply.output_tokens
    assert out.reply.server_latency_ms is not None and out.reply.server_latency_ms >= 0
    assert out.reply.stop_reason
    assert (out.attempts, out.throttles, out.backoff_ms) == (1, 0, 0.0)
    assert out.http_status == 200 and out.aws_request_id
    assert_ordered(out)
    if api in (API_CONVERSE_STREAM, API_INVOKE_STREAM):
        assert out.t_first_token_ns is not None
        assert len(out.delta_chars) >= 1
        assert len(out.itl_ms) == len(out.delta_chars) - 1
        assert sum(out.delta_chars) == len(out.reply.text)
        assert all(gap >= 0 for gap in out.itl_ms)
        assert tpot_ms(out) is not None and ttft_ms(out) is not None and ttft_ms(out) >= 0
    else:
        assert out.t_first_token_ns is None and out.itl_ms == () and out.delta_chars == ()


@pytest.mark.parametrize("api", ALL)
def test_maverick_images_ok_and_streams_are_validation_errors(emulator: Any, api: str) -> None:
    image = ImageInput(format="png", data=PNG_1X1, width=1, height=1)
    with Transport(TransportSettings(auth="sigv4"), MAVERICK.family, _endpoints(emulator)) as transport:
        out = send(transport, make_request(MAVERICK, api, images=(image,)))
    assert_ordered(out)
    if api in (API_CONVERSE, API_INVOKE):
        assert out.status == "ok", (out.error_code, out.error_message)
        assert out.reply is not None and out.reply.text and out.reply.input_tokens
    else:
        assert out.status == "error"
        assert out.error_code == "ValidationException"
        assert out.error_class == CLASS_CLIENT
        assert out.http_status == 400 and out.attempts == 1 and out.error_message


def test_messages_body_style_round_trip(emulator: Any) -> None:
    settings = TransportSettings(invoke_body_style="messages")
    with Transport(settings, LLAMA33.family, _endpoints(emulator)) as transport:
        out = send(transport, make_request(LLAMA33, API_INVOKE))
    assert out.status == "ok", (out.error_code, out.error_message)
    assert out.reply is not None and out.reply.text and out.reply.output_tokens


def test_one_client_many_threads_keeps_attempt_logs_apart(emulator: Any) -> None:
    with Transport(TransportSettings(), LLAMA33.family, _endpoints(emulator), concurrency=8) as transport:
        results: list[Outcome] = []
        lock = threading.Lock()

        def worker(k: int) -> None:
            for i in range(4):
                out = send(transport, make_request(LLAMA33, ALL[(k + i) % 4], n=k * 10 + i))
                with lock:
                    results.append(out)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(transport._clients) == 1
    assert len(results) == 32
    assert all(r.status == "ok" for r in results), [r.error_message for r in results if not r.ok]
    assert all(r.attempts == 1 and r.backoff_ms == 0.0 for r in results)
    assert len({r.aws_request_id for r in results}) == 32


@contextlib.contextmanager
def special_transport(settings: TransportSettings, **options: Any) -> Iterator[tuple[Transport, Any]]:
    """A dedicated emulator (zero latency plus `options`) and a transport pointed at it."""
    from evals.emulator import Emulator
    from evals.emulator.options import EmulatorOptions

    emu_options = EmulatorOptions.from_dict({"latency_profile": "zero", **options})
    with Emulator(emu_options) as emu, Transport(settings, LLAMA33.family, _endpoints(emu)) as transport:
        yield transport, emu


@pytest.mark.parametrize(("api", "max_attempts"), [(API_CONVERSE, 3), (API_INVOKE_STREAM, 2)])
def test_throttling_exhausts_retries_and_counts_backoff(api: str, max_attempts: int) -> None:
    settings = TransportSettings(max_attempts=max_attempts)
    with special_transport(settings, faults={"throttle": 1.0}, retry_after_ms=20) as (transport, emu):
        out = send(transport, make_request(LLAMA33, api))
        server = emu.stats()
    assert server["total_requests"] == out.attempts and server["throttles"] == out.throttles
    assert out.status == "error"
    assert out.error_code == "ThrottlingException" and out.error_class == CLASS_THROTTLE
    assert out.http_status == 429
    assert out.attempts == max_attempts and out.throttles == max_attempts
    assert out.backoff_ms > 0
    assert out.last_attempt_ms < latency_ms(out)
    assert_ordered(out)


def test_midstream_exception_is_an_error_outcome_never_retried() -> None:
    settings = TransportSettings(max_attempts=3)
    with special_transport(settings, faults={"midstream_exception": 1.0}) as (transport, _emu):
        out = send(transport, make_request(LLAMA33, API_CONVERSE_STREAM))
    assert out.status == "error"
    assert out.attempts == 1
    assert out.error_code == "ModelStreamErrorException"  # lowerCamel event name mapped to the HTTP name
    assert out.error_class == CLASS_TRANSIENT and out.http_status == 200
    assert_ordered(out)


def test_oracle_engine_answers_with_the_text_sent_in_metadata() -> None:
    expected = "Paris is the capital of France."
    with special_transport(TransportSettings(), engine="oracle") as (transport, _emu):
        outs = [send(transport, make_request(LLAMA33, api), oracle_text=expected) for api in ALL]
    for out in outs:
        assert out.status == "ok", (out.error_code, out.error_message)
        assert out.reply is not None and out.reply.text.strip() == expected


@pytest.mark.serial
def test_read_timeout_before_first_byte_is_transient() -> None:
    settings = TransportSettings(max_attempts=1, read_timeout_s=0.3)
    faults = {"stall_before_first_byte": 1.0, "stall_ms": 800}
    with special_transport(settings, faults=faults) as (transport, _emu):
        out = send(transport, make_request(LLAMA33, API_CONVERSE))
    assert (out.status, out.error_code, out.error_class, out.attempts) == ("error", "ReadTimeout", "transient", 1)
    assert 250 <= latency_ms(out) < 800
    assert_ordered(out)


@pytest.mark.parametrize(("api", "attempts"), [(API_CONVERSE, 2), (API_CONVERSE_STREAM, 1)])
def test_connection_reset_is_a_transient_error_retried_only_before_the_stream(api: str, attempts: int) -> None:
    """A reset while botocore reads a unary body is retried; one after a stream started is not."""
    settings = TransportSettings(max_attempts=2)
    with special_transport(settings, faults={"connection_reset": 1.0}) as (transport, _emu):
        out = send(transport, make_request(LLAMA33, api))
    assert out.status == "error" and out.error_class == CLASS_TRANSIENT
    assert out.error_code == "ConnectionClosed"
    assert out.attempts == attempts and out.throttles == 0
    assert_ordered(out)


def test_botocore_parameter_validation_is_a_client_error_with_no_attempt() -> None:
    transport = Transport(TransportSettings(), "llama3", FAKE_ENDPOINTS)
    request = dataclasses.replace(make_request(LLAMA33, API_CONVERSE), params=InferenceParams(max_tokens=0))
    out = send(transport, request)
    assert (out.status, out.error_code, out.error_class, out.attempts) == ("error", "ParamValidationError", "client", 0)
    assert "maxTokens" in (out.error_message or "")
