"""Faults and quotas: what boto3 sees from each injected failure, and retries counted by the admin endpoint."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EventStreamError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from conftest import LLAMA33, MAVERICK, client_for
from urllib3.exceptions import ProtocolError

from evals.emulator import Emulator
from evals.emulator.quotas import MSG_DAILY, MSG_REQUESTS, MSG_TOKENS

MSGS = [{"role": "user", "content": [{"text": "hello"}]}]


def start(**options):
    return Emulator({"latency_profile": "zero", "seed": 7, **options})


@pytest.fixture(scope="module")
def quota_emulator():
    # quota_scale 0.01: 8 requests/min and 6,000 tokens/min; tokens/day overridden to 3,000 after scaling.
    with start(quota_scale=0.01, quotas={"tokens_per_day": 300_000}) as emu:
        yield emu


def test_requests_per_minute(quota_emulator):
    client = client_for(quota_emulator, "us-east-1")
    for _ in range(8):
        client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 10})
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 10})
    assert info.value.response["Error"]["Message"] == MSG_REQUESTS
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert quota_emulator.stats()["throttles"] >= 1


def test_tokens_per_minute_reserves_max_tokens(quota_emulator):
    client = client_for(quota_emulator, "us-east-2")
    # maxTokens unset reserves the card maximum (8,192) which alone exceeds 6,000 tokens/min
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        client.converse(modelId=MAVERICK, messages=MSGS)
    assert info.value.response["Error"]["Message"] == MSG_TOKENS
    assert client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 100})


def test_tokens_per_day(quota_emulator):
    client = client_for(quota_emulator, "us-west-1")
    meta = {"evals.target_output_tokens": "1000"}
    for _ in range(2):
        client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 1000}, requestMetadata=meta)
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 1000}, requestMetadata=meta)
    assert info.value.response["Error"]["Message"] == MSG_DAILY


def test_reset_refills_quotas(quota_emulator):
    client = client_for(quota_emulator, "us-west-2")
    for _ in range(8):
        client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 10})
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 10})
    quota_emulator.reset()
    assert quota_emulator.stats()["total_requests"] == 0
    client.converse(modelId=MAVERICK, messages=MSGS, inferenceConfig={"maxTokens": 10})


@pytest.mark.parametrize("fault,exception,status", [
    ("throttle", "ThrottlingException", 429),
    ("model_not_ready", "ModelNotReadyException", 429),
    ("internal_error", "InternalServerException", 500),
    ("service_unavailable", "ServiceUnavailableException", 503),
    ("model_timeout", "ModelTimeoutException", 408),
])
def test_error_faults_and_retries(fault, exception, status):
    with start(faults={fault: 1.0}, retry_after_ms=5) as emu:
        client = client_for(emu, "us-east-1", retries={"total_max_attempts": 3, "mode": "standard"})
        with pytest.raises(getattr(client.exceptions, exception)) as info:
            client.converse(modelId=MAVERICK, messages=MSGS)
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        stats = emu.stats()
        retried = exception != "ModelTimeoutException"  # botocore does not retry 408 ModelTimeout
        expected = {"1": 1, "2": 1, "3": 1} if retried else {"1": 1}
        assert stats["attempts"] == expected
        assert stats["faults_injected"] == {fault: sum(expected.values())}


def test_fault_rate_is_seeded():
    def run() -> list[str]:
        with start(faults={"internal_error": 0.5}) as emu:
            client = client_for(emu, "us-east-1")
            out = []
            for _ in range(16):
                try:
                    client.converse(modelId=MAVERICK, messages=MSGS)
                    out.append("ok")
                except ClientError as err:
                    out.append(err.response["Error"]["Code"])
            return out

    first = run()
    assert first == run()
    assert "ok" in first and "InternalServerException" in first


def test_connection_reset():
    with start(faults={"connection_reset": 1.0}) as emu:
        client = client_for(emu, "us-east-1")
        with pytest.raises((ConnectionClosedError, ResponseStreamingError)):
            client.converse(modelId=MAVERICK, messages=MSGS)
        stream_client = client_for(emu, "us-east-1", "bearer")
        resp = stream_client.converse_stream(modelId=LLAMA33, messages=MSGS,
                                             requestMetadata={"evals.target_output_tokens": "20"})
        # botocore does not wrap errors while iterating an event stream: urllib3's ProtocolError surfaces
        with pytest.raises((ResponseStreamingError, ConnectionClosedError, ProtocolError)):
            list(resp["stream"])
        assert emu.stats()["faults_injected"]["connection_reset"] == 2


@pytest.mark.serial
def test_stall_before_first_byte_times_out():
    with start(faults={"stall_before_first_byte": 1.0, "stall_ms": 1500}) as emu:
        client = client_for(emu, "us-east-1", read_timeout=0.3)
        started = time.perf_counter()
        with pytest.raises(ReadTimeoutError):
            client.converse(modelId=MAVERICK, messages=MSGS)
        assert time.perf_counter() - started < 1.4


def test_midstream_exception():
    with start(faults={"midstream_exception": 1.0}) as emu:
        client = client_for(emu, "us-east-1")
        resp = client.converse_stream(modelId=LLAMA33, messages=MSGS,
                                      requestMetadata={"evals.target_output_tokens": "10"})
        seen = []
        with pytest.raises(EventStreamError) as info:
            for event in resp["stream"]:
                seen.append(next(iter(event)))
        assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
        assert seen[0] == "messageStart" and seen.count("contentBlockDelta") == 5
        import json

        resp = client.invoke_model_with_response_stream(modelId=LLAMA33,
                                                        body=json.dumps({"prompt": "x", "max_gen_len": 6}))
        with pytest.raises(EventStreamError):
            list(resp["body"])


@pytest.mark.serial
def test_slow_trickle_spreads_deltas():
    with start(faults={"slow_trickle": 1.0, "trickle_delay_ms": 30}) as emu:
        client = client_for(emu, "us-east-1")
        started = time.perf_counter()
        resp = client.converse_stream(modelId=LLAMA33, messages=MSGS,
                                      requestMetadata={"evals.target_output_tokens": "8"})
        arrivals = [time.perf_counter() - started for e in resp["stream"] if "contentBlockDelta" in e]
        assert len(arrivals) == 8
        assert arrivals[-1] - arrivals[0] >= 7 * 0.030 * 0.9
