"""Every operation through unmodified boto3 over sockets, in both auth modes; shapes checked against the model."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.eventstream import EventStreamBuffer
from conftest import (
    LLAMA33,
    LLAMA33_BARE,
    MAVERICK,
    MAVERICK_BARE,
    b64,
    check_output,
    check_shape,
    event_member_shape,
    png_bytes,
    raw_request,
)

AUTHS = ["sigv4", "bearer"]


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


@pytest.mark.parametrize("auth", AUTHS)
def test_converse_shape_and_usage(make_client, auth):
    client = make_client("us-east-1", auth)
    resp = client.converse(modelId=MAVERICK, messages=user("Summarize the water cycle."),
                           system=[{"text": "Be brief."}], inferenceConfig={"maxTokens": 40, "temperature": 0.2})
    check_output("Converse", resp)
    text = resp["output"]["message"]["content"][0]["text"]
    assert resp["output"]["message"]["role"] == "assistant"
    assert resp["usage"]["outputTokens"] <= 40
    assert resp["usage"]["totalTokens"] == resp["usage"]["inputTokens"] + resp["usage"]["outputTokens"]
    assert resp["stopReason"] in ("end_turn", "max_tokens")
    assert text and resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_converse_deterministic_and_seeded(make_client):
    client = make_client("us-east-2")
    a = client.converse(modelId=MAVERICK, messages=user("Same question"))
    b = client.converse(modelId=MAVERICK, messages=user("Same question"))
    c = client.converse(modelId=MAVERICK, messages=user("Other question"))
    text = lambda r: r["output"]["message"]["content"][0]["text"]  # noqa: E731
    assert text(a) == text(b)
    assert text(a) != text(c)


def test_converse_max_tokens_and_target_tokens(make_client):
    client = make_client("us-east-1")
    resp = client.converse(modelId=MAVERICK, messages=user("Long please"), inferenceConfig={"maxTokens": 3},
                           requestMetadata={"evals.target_output_tokens": "50"})
    assert resp["stopReason"] == "max_tokens" and resp["usage"]["outputTokens"] == 3
    resp = client.converse(modelId=MAVERICK, messages=user("Exact"),
                           requestMetadata={"evals.target_output_tokens": "37"})
    assert resp["usage"]["outputTokens"] == 37 and resp["stopReason"] == "end_turn"


def test_converse_stop_sequence(make_client):
    client = make_client("us-east-1")
    resp = client.converse(modelId=MAVERICK, messages=user("Paragraphs"), inferenceConfig={"stopSequences": ["."]},
                           requestMetadata={"evals.target_output_tokens": "60"})
    assert resp["stopReason"] == "stop_sequence"
    assert "." not in resp["output"]["message"]["content"][0]["text"]


def test_converse_service_tier_echo_and_image(make_client):
    client = make_client("us-west-1", "bearer")
    image = png_bytes(700, 400)
    resp = client.converse(
        modelId=MAVERICK,
        messages=[{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": image}}},
                                               {"text": "What is in the picture?"}]}],
        serviceTier={"type": "default"},
        performanceConfig={"latency": "standard"},
        additionalModelRequestFields={"top_k": 5},
    )
    check_output("Converse", resp)
    assert resp["serviceTier"] == {"type": "default"}
    plain = client.converse(modelId=MAVERICK, messages=user("What is in the picture?"))
    # 700x400 -> 3x2 tiles + overview = 7 tiles of 144 tokens, plus one <|image|> placeholder token
    assert resp["usage"]["inputTokens"] - plain["usage"]["inputTokens"] == 7 * 144 + 1


@pytest.mark.parametrize("auth", AUTHS)
def test_invoke_prompt_style(make_client, auth):
    client = make_client("us-east-2", auth)
    body = {"prompt": "<|begin_of_text|><|header_start|>user<|header_end|>\n\nName a color.<|eot|>"
                      "<|header_start|>assistant<|header_end|>\n\n", "max_gen_len": 25, "temperature": 0.5,
            "top_p": 0.9}
    resp = client.invoke_model(modelId=MAVERICK, body=json.dumps(body))  # no contentType: boto3 sends none
    check_output("InvokeModel", resp)
    out = json.loads(resp["body"].read())
    assert set(out) == {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}
    assert out["stop_reason"] in ("stop", "length") and out["generation_token_count"] <= 25
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == out["prompt_token_count"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == out["generation_token_count"]
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0
    assert resp["contentType"] == "application/json"


def test_invoke_prompt_with_image(make_client):
    client = make_client("us-east-1")
    body = {"prompt": "Describe <|image|>", "images": [b64(png_bytes(300, 300, "JPEG"))], "max_gen_len": 10}
    out = json.loads(client.invoke_model(modelId=MAVERICK, body=json.dumps(body),
                                         contentType="application/json")["body"].read())
    assert out["prompt_token_count"] > 144


def test_invoke_messages_style(make_client):
    client = make_client("us-east-1")
    body = {"messages": [{"role": "user", "content": "Say something"}], "max_tokens": 12}
    out = json.loads(client.invoke_model(modelId=MAVERICK, body=json.dumps(body))["body"].read())
    assert out["object"] == "chat.completion"
    choice = out["choices"][0]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    u = out["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["completion_tokens"] <= 12


@pytest.mark.parametrize("auth", AUTHS)
def test_converse_stream_assembles(make_client, auth):
    client = make_client("us-east-1", auth)
    meta = {"evals.target_output_tokens": "30"}
    resp = client.converse_stream(modelId=LLAMA33, messages=user("Stream me"), requestMetadata=meta)
    check_output("ConverseStream", resp)
    events = list(resp["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert set(kinds[1:-3]) == {"contentBlockDelta"}
    for event in events:
        (name, payload), = event.items()
        check_shape(payload, event_member_shape("ConverseStream", name), name)
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    full = client.converse(modelId=LLAMA33, messages=user("Stream me"), requestMetadata=meta)
    assert text == full["output"]["message"]["content"][0]["text"]
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == 30 == len(kinds) - 4
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"


@pytest.mark.parametrize("auth", AUTHS)
def test_invoke_stream_chunks(make_client, auth):
    client = make_client("us-east-2", auth)
    resp = client.invoke_model_with_response_stream(modelId=LLAMA33,
                                                    body=json.dumps({"prompt": "Hi", "max_gen_len": 8}))
    check_output("InvokeModelWithResponseStream", resp)
    assert resp["contentType"] == "application/json"
    chunks = [json.loads(e["chunk"]["bytes"]) for e in resp["body"]]
    assert chunks[0]["prompt_token_count"] > 0
    assert all(c["prompt_token_count"] is None for c in chunks[1:])
    assert [c["generation_token_count"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert all(c["stop_reason"] is None for c in chunks[:-1]) and chunks[-1]["stop_reason"] in ("stop", "length")
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == len(chunks) and metrics["inputTokenCount"] == chunks[0]["prompt_token_count"]
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] >= 0


def test_count_tokens_matches_converse(make_client):
    client = make_client("us-east-1", "bearer")
    msgs = user("Count these words please")
    counted = client.count_tokens(modelId=LLAMA33_BARE, input={"converse": {"messages": msgs}})
    check_output("CountTokens", counted)
    used = client.converse(modelId=LLAMA33, messages=msgs)["usage"]["inputTokens"]
    assert counted["inputTokens"] == used
    raw = json.dumps({"prompt": "Count these words please", "max_gen_len": 5}).encode()
    by_invoke = client.count_tokens(modelId=LLAMA33_BARE, input={"invokeModel": {"body": raw}})
    assert by_invoke["inputTokens"] == json.loads(
        client.invoke_model(modelId=LLAMA33, body=raw)["body"].read())["prompt_token_count"]


def test_count_tokens_unsupported_for_llama4(make_client):
    client = make_client("us-east-1")
    with pytest.raises(client.exceptions.ValidationException, match="counting tokens"):
        client.count_tokens(modelId=MAVERICK_BARE, input={"converse": {"messages": user("x")}})


def test_count_tokens_names_the_foundation_model(make_client):
    """The API reference: modelId is the foundation model's id or ARN; an inference profile is refused."""
    client = make_client("us-east-1")
    msgs = {"converse": {"messages": user("x")}}
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{LLAMA33_BARE}"
    assert client.count_tokens(modelId=arn, input=msgs)["inputTokens"] > 0
    with pytest.raises(client.exceptions.ValidationException, match="counting tokens"):
        client.count_tokens(modelId=LLAMA33, input=msgs)
    with pytest.raises(client.exceptions.ValidationException, match="identifier is invalid"):
        client.count_tokens(modelId="meta.no-such-model-v1:0", input=msgs)


def test_raw_frames_decode_with_botocore_parser(emulator):
    region = emulator.endpoints["regions"]["us-east-1"]
    status, headers, body = raw_request(region["http"], LLAMA33, "converse-stream",
                                        {"messages": user("frames"),
                                         "requestMetadata": {"evals.target_output_tokens": "5"}},
                                        region="us-east-1", creds=emulator.endpoints["credentials"])
    assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
    assert headers["transfer-encoding"] == "chunked"
    buf = EventStreamBuffer()
    buf.add_data(body)
    messages = list(buf)  # raises on any prelude or message CRC mismatch
    assert [m.headers[":event-type"] for m in messages] == (
        ["messageStart"] + ["contentBlockDelta"] * 5 + ["contentBlockStop", "messageStop", "metadata"])
    for m in messages:
        assert list(m.headers)[:3] == [":event-type", ":content-type", ":message-type"]
        assert m.headers[":message-type"] == "event" and m.headers[":content-type"] == "application/json"
        assert "p" in json.loads(m.payload)


def test_raw_invoke_stream_payload_is_base64_json(emulator):
    region = emulator.endpoints["regions"]["us-east-2"]
    status, headers, body = raw_request(region["https"], LLAMA33, "invoke-with-response-stream",
                                        {"prompt": "x", "max_gen_len": 3}, region="us-east-2",
                                        creds=emulator.endpoints["credentials"], ca_file=emulator.ca_file)
    assert status == 200 and headers["x-amzn-bedrock-content-type"] == "application/json"
    buf = EventStreamBuffer()
    buf.add_data(body)
    payloads = [json.loads(base64.b64decode(json.loads(m.payload)["bytes"])) for m in buf]
    assert len(payloads) == 3 and "amazon-bedrock-invocationMetrics" in payloads[-1]


def test_unknown_path_is_404(emulator):
    region = emulator.endpoints["regions"]["us-east-1"]
    status, headers, _body = raw_request(region["http"], MAVERICK, "not-an-op", {}, region="us-east-1",
                                        creds=emulator.endpoints["credentials"])
    assert status == 404 and headers["x-amzn-errortype"].startswith("UnknownOperationException:")


def test_admin_stats_count_operations(emulator, make_client):
    before = emulator.stats()
    make_client("us-west-2").converse(modelId=MAVERICK, messages=user("count me"))
    after = emulator.stats()
    assert after["requests"]["Converse"]["us-west-2"] == before["requests"].get("Converse", {}).get("us-west-2",
                                                                                                   0) + 1
    assert after["attempts"]["1"] > before["attempts"].get("1", 0)
