"""Latency profiles: known injected delays (fixed), region RTT and TTFT growth (realistic), measured metrics."""

from __future__ import annotations

import itertools
import json
import statistics
import time

import pytest
from conftest import LLAMA33, MAVERICK, client_for

from evals.emulator import Emulator

# wall-clock latency checked against known injected delays: run alone, after the parallel pass
pytestmark = pytest.mark.serial


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


@pytest.fixture(scope="module")
def fixed():
    with Emulator({"latency_profile": "fixed", "fixed_latency_ms": 150, "fixed_ttft_ms": 60, "seed": 3}) as emu:
        yield emu


def test_fixed_latency_converse(fixed):
    client = client_for(fixed, "us-east-1")
    client.converse(modelId=MAVERICK, messages=user("warm up"), inferenceConfig={"maxTokens": 5})
    started = time.perf_counter()
    resp = client.converse(modelId=MAVERICK, messages=user("timed"), inferenceConfig={"maxTokens": 5})
    wall_ms = (time.perf_counter() - started) * 1000
    assert 150 <= resp["metrics"]["latencyMs"] <= 170
    assert 150 <= wall_ms <= 230


def test_fixed_latency_invoke_header(fixed):
    client = client_for(fixed, "us-east-2", "bearer")
    resp = client.invoke_model(modelId=MAVERICK, body=json.dumps({"prompt": "x", "max_gen_len": 5}))
    assert 150 <= int(resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-invocation-latency"]) <= 170


def test_fixed_stream_ttft_and_spread(fixed):
    client = client_for(fixed, "us-east-1")
    client.converse(modelId=LLAMA33, messages=user("warm"), inferenceConfig={"maxTokens": 1})
    started = time.perf_counter()
    resp = client.converse_stream(modelId=LLAMA33, messages=user("stream"),
                                  requestMetadata={"evals.target_output_tokens": "11"})
    arrivals, metadata = [], None
    for event in resp["stream"]:
        if "contentBlockDelta" in event:
            arrivals.append((time.perf_counter() - started) * 1000)
        metadata = event.get("metadata", metadata)
    assert len(arrivals) == 11
    assert 60 <= arrivals[0] <= 100, arrivals  # first delta at the fixed TTFT
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert statistics.median(gaps) == pytest.approx(9.0, abs=4.0)  # (150-60)/10 ms apart, flushed as produced
    assert 150 <= arrivals[-1] <= 230
    assert 150 <= metadata["metrics"]["latencyMs"] <= 175


def test_fixed_invoke_stream_first_byte(fixed):
    client = client_for(fixed, "us-east-1")
    resp = client.invoke_model_with_response_stream(modelId=LLAMA33,
                                                    body=json.dumps({"prompt": "x", "max_gen_len": 6}))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in resp["body"]]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert 60 <= metrics["firstByteLatency"] <= 80
    assert 150 <= metrics["invocationLatency"] <= 175


@pytest.fixture(scope="module")
def realistic():
    with Emulator({"latency_profile": "realistic", "latency_scale": 0.25, "seed": 5}) as emu:
        yield emu


def test_realistic_region_rtt_outside_server_latency(realistic):
    """Client time minus the server's latencyMs is the region's RTT (70 ms x 0.25 for us-west-2)."""
    meta = {"evals.target_output_tokens": "1"}
    overhead = {}
    for region in ("us-east-1", "us-west-2"):
        client = client_for(realistic, region)
        client.converse(modelId=MAVERICK, messages=user("warm"), requestMetadata=meta)
        samples = []
        for i in range(3):
            started = time.perf_counter()
            resp = client.converse(modelId=MAVERICK, messages=user(f"q{i}"), requestMetadata=meta)
            samples.append((time.perf_counter() - started) * 1000 - resp["metrics"]["latencyMs"])
        overhead[region] = statistics.median(samples)
    assert overhead["us-west-2"] - overhead["us-east-1"] == pytest.approx((70 - 3) * 0.25, abs=4)


def test_realistic_ttft_grows_with_input(realistic):
    client = client_for(realistic, "us-east-1")
    meta = {"evals.target_output_tokens": "1"}

    def server_ms(text: str) -> float:
        return statistics.mean(
            client.converse(modelId=MAVERICK, messages=user(f"{i} {text}"), requestMetadata=meta)["metrics"][
                "latencyMs"] for i in range(3))

    small, large = server_ms("short"), server_ms("word " * 30_000)
    # calibration: 18 ms per 1k input tokens x 0.25 -> about +135 ms for ~30k tokens
    assert large - small > 60


def test_realistic_stream_decode_rate(realistic):
    client = client_for(realistic, "us-east-1")
    resp = client.converse_stream(modelId=LLAMA33, messages=user("rate"),
                                  requestMetadata={"evals.target_output_tokens": "40"})
    arrivals = [time.perf_counter() for e in resp["stream"] if "contentBlockDelta" in e]
    per_token_ms = (arrivals[-1] - arrivals[0]) / 39 * 1000
    assert per_token_ms == pytest.approx(1000 / 60 * 0.25, rel=0.3)  # card: 60 tokens/s, scaled by 0.25


def test_zero_profile_is_fast(make_client):
    client = make_client("us-east-1")
    client.converse(modelId=MAVERICK, messages=user("warm"))
    samples = []
    for i in range(50):
        started = time.perf_counter()
        client.converse(modelId=MAVERICK, messages=user(f"fast {i}"), inferenceConfig={"maxTokens": 20})
        samples.append(time.perf_counter() - started)
    # A Nagle/delayed-ACK stall costs ~40 ms a request; 20 ms keeps that caught on a loaded 2-core machine, where
    # a sub-millisecond round trip can take several milliseconds of waiting for a CPU.
    assert statistics.median(samples) < 0.020


def test_stats_report_how_late_answers_and_first_tokens_were_written(fixed):
    fixed.reset()
    client = client_for(fixed, "us-east-1")
    client.converse(modelId=MAVERICK, messages=user("on time?"), inferenceConfig={"maxTokens": 5})
    resp = client.converse_stream(modelId=LLAMA33, messages=user("first token on time?"),
                                  requestMetadata={"evals.target_output_tokens": "11"})
    for _event in resp["stream"]:
        pass
    late = fixed.stats()["first_write_late_ms"]
    assert late["n"] == 2
    # measured from each deadline: the stream's first token against its 60 ms TTFT, not its 150 ms total
    assert 0 <= late["p50"] <= late["max"] < 50, late
    fixed.reset()
    assert fixed.stats()["first_write_late_ms"] == {"n": 0}
