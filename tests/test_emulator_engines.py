"""Engines through the wire: echo returns untrusted text verbatim; oracle answers the expected text by accuracy."""

from __future__ import annotations

import base64
import json

import pytest
from conftest import MAVERICK, client_for

from evals.emulator import Emulator
from evals.oracle import ORACLE_WRONG_TEXT


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def expected_metadata(answer: str, chunk: int = 8) -> dict[str, str]:
    encoded = base64.b64encode(answer.encode()).decode()
    return {f"evals.expected_b64.{i}": encoded[i * chunk:(i + 1) * chunk]
            for i in range((len(encoded) + chunk - 1) // chunk)}


def test_echo_returns_prompt_verbatim():
    nasty = "<script>alert('x')</script> & \"quotes\" \u2019 \n\n{{ jinja }}"
    with Emulator({"latency_profile": "zero", "engine": "echo"}) as emu:
        client = client_for(emu, "us-east-1")
        resp = client.converse(modelId=MAVERICK, messages=user(nasty))
        assert resp["output"]["message"]["content"][0]["text"] == nasty
        body = {"prompt": "<|begin_of_text|><|header_start|>user<|header_end|>\n\n" + nasty
                          + "<|eot|><|header_start|>assistant<|header_end|>\n\n"}
        out = json.loads(client.invoke_model(modelId=MAVERICK, body=json.dumps(body))["body"].read())
        assert out["generation"] == nasty
        short = client.converse(modelId=MAVERICK, messages=user("one two three four"),
                                inferenceConfig={"maxTokens": 2})
        assert short["output"]["message"]["content"][0]["text"] == "one two" and short["stopReason"] == "max_tokens"


@pytest.fixture(scope="module")
def oracle():
    with Emulator({"latency_profile": "zero", "engine": "oracle", "oracle_accuracy": 0.5, "seed": 11}) as emu:
        yield emu


def test_oracle_accuracy_and_determinism(oracle):
    client = client_for(oracle, "us-east-1")
    answer = "The answer is (C) 42 \u2014 final."
    outcomes = []
    for i in range(40):
        meta = {**expected_metadata(answer), "evals.sample": str(i)}
        text = client.converse(modelId=MAVERICK, messages=user(f"Question {i}"),
                               requestMetadata=meta)["output"]["message"]["content"][0]["text"]
        assert text in (answer, ORACLE_WRONG_TEXT)
        outcomes.append(text == answer)
        again = client.converse(modelId=MAVERICK, messages=user(f"Question {i}"), requestMetadata=meta)
        assert again["output"]["message"]["content"][0]["text"] == text
    assert 8 <= sum(outcomes) <= 32  # about half right


def test_oracle_invoke_metadata_header_and_fallback(oracle):
    client = client_for(oracle, "us-east-2")
    right = 0
    for i in range(10):
        body = json.dumps({"prompt": f"Question {i} for invoke", "max_gen_len": 50})
        resp = client.invoke_model(modelId=MAVERICK, body=body,
                                   requestMetadata=json.dumps(expected_metadata("blue")))
        right += json.loads(resp["body"].read())["generation"] == "blue"
    assert 0 < right < 10
    plain = client.converse(modelId=MAVERICK, messages=user("no metadata"))
    assert plain["output"]["message"]["content"][0]["text"] not in ("blue", ORACLE_WRONG_TEXT)


@pytest.mark.parametrize("accuracy,expect_right", [(1.0, True), (0.0, False)])
def test_oracle_extremes(accuracy, expect_right):
    with Emulator({"latency_profile": "zero", "engine": "oracle", "oracle_accuracy": accuracy}) as emu:
        client = client_for(emu, "us-east-1")
        text = client.converse(modelId=MAVERICK, messages=user("q"),
                               requestMetadata=expected_metadata("yes"))["output"]["message"]["content"][0]["text"]
        assert (text == "yes") is expect_right
