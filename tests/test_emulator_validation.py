"""Validation errors: Bedrock's status, x-amzn-ErrorType and message, raised by boto3 as the right class."""

from __future__ import annotations

import json

import pytest
from conftest import LLAMA33, LLAMA33_BARE, MAVERICK, MAVERICK_BARE, b64, png_bytes, raw_request

from evals.emulator.validation import MESSAGES


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def image_msg(data: bytes, fmt: str = "png", count: int = 1) -> list[dict]:
    blocks = [{"image": {"format": fmt, "source": {"bytes": data}}} for _ in range(count)]
    return [{"role": "user", "content": [*blocks, {"text": "look"}]}]


@pytest.fixture
def client(make_client):
    return make_client("us-east-1", parameter_validation=False)


def expect_validation(client, message: str, fn, **kwargs):
    with pytest.raises(client.exceptions.ValidationException) as info:
        fn(**kwargs)
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Error"]["Message"] == message
    return err


def test_bare_maverick_id_needs_profile(client):
    msg = ("Invocation of model ID meta.llama4-maverick-17b-instruct-v1:0 with on-demand throughput isn\u2019t "
           "supported. Retry your request with the ID or ARN of an inference profile that contains this model.")
    expect_validation(client, msg, client.converse, modelId=MAVERICK_BARE, messages=user("x"))
    expect_validation(client, msg, client.invoke_model, modelId=MAVERICK_BARE, body=b'{"prompt":"x"}')


def test_unknown_model_id(client):
    expect_validation(client, "The provided model identifier is invalid.", client.converse,
                      modelId="meta.nope-v1:0", messages=user("x"))


def test_profile_not_routed_from_region(make_client):
    client = make_client("us-west-1")  # the Llama 3.3 profile has no us-west-1 source
    expect_validation(client, "The provided model identifier is invalid.", client.converse, modelId=LLAMA33,
                      messages=user("x"))


def test_profile_arn_accepted(client):
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{MAVERICK}"
    assert client.converse(modelId=arn, messages=user("x"))["usage"]["inputTokens"] > 0


def test_streaming_on_non_streaming_card(client):
    expect_validation(client, MESSAGES["streaming"], client.converse_stream, modelId=MAVERICK,
                      messages=user("x"))
    expect_validation(client, MESSAGES["streaming"], client.invoke_model_with_response_stream,
                      modelId=MAVERICK, body=b'{"prompt":"x"}')


def test_service_tier_not_in_card(client):
    expect_validation(client, MESSAGES["service_tier"].format(tier="priority"), client.converse,
                      modelId=MAVERICK, messages=user("x"), serviceTier={"type": "priority"})
    expect_validation(client, MESSAGES["service_tier"].format(tier="flex"), client.invoke_model,
                      modelId=MAVERICK, body=b'{"prompt":"x"}', serviceTier="flex")


def test_max_tokens_above_card(client):
    expect_validation(client, MESSAGES["max_tokens"].format(limit=8192), client.converse, modelId=MAVERICK,
                      messages=user("x"), inferenceConfig={"maxTokens": 9000})
    expect_validation(client, "Malformed input request: #/max_gen_len: 9000 is not less or equal to 8192, please "
                      "reformat your input and try again.", client.invoke_model, modelId=MAVERICK,
                      body=json.dumps({"prompt": "x", "max_gen_len": 9000}))


@pytest.mark.parametrize("field,value,word", [("temperature", 1.5, "less"), ("topP", -0.1, "greater"),
                                              ("maxTokens", 0, "greater")])
def test_inference_config_ranges(client, field, value, word):
    limit = {"temperature": 1, "topP": 0, "maxTokens": 1}[field]
    msg = (f"1 validation error detected: Value '{value}' at 'inferenceConfig.{field}' failed to satisfy "
           f"constraint: Member must have value {word} than or equal to {limit}")
    expect_validation(client, msg, client.converse, modelId=MAVERICK, messages=user("x"),
                      inferenceConfig={field: value})


def test_invoke_temperature_range(client):
    expect_validation(client, "Malformed input request: #/temperature: 2 is not less or equal to 1, please "
                      "reformat your input and try again.", client.invoke_model, modelId=MAVERICK,
                      body=json.dumps({"prompt": "x", "temperature": 2}))


def test_malformed_json_and_missing_fields(client, emulator):
    expect_validation(client, MESSAGES["bad_json"], client.invoke_model, modelId=MAVERICK, body=b"{not json")
    expect_validation(client, "Malformed input request: #: required key [prompt] not found, please reformat your "
                      "input and try again.", client.invoke_model, modelId=MAVERICK, body=b'{"max_gen_len": 5}')
    expect_validation(client, "Malformed input request: #: extraneous key [foo] is not permitted, please reformat "
                      "your input and try again.", client.invoke_model, modelId=MAVERICK,
                      body=b'{"prompt": "x", "foo": 1}')
    region = emulator.endpoints["regions"]["us-east-1"]
    status, headers, body = raw_request(region["http"], MAVERICK, "converse", b"{oops", region="us-east-1",
                                        creds=emulator.endpoints["credentials"])
    assert status == 400 and headers["x-amzn-errortype"].split(":")[0] == "ValidationException"
    status, _, body = raw_request(region["http"], MAVERICK, "converse", {"inferenceConfig": {}},
                                  region="us-east-1", creds=emulator.endpoints["credentials"])
    assert status == 400 and "Value null at 'messages'" in json.loads(body)["message"]


def test_conversation_rules(client):
    expect_validation(client, MESSAGES["first_user"], client.converse, modelId=MAVERICK,
                      messages=[{"role": "assistant", "content": [{"text": "hi"}]}])
    expect_validation(client, MESSAGES["alternate"], client.converse, modelId=MAVERICK,
                      messages=user("a") + user("b"))


def test_image_limits(client):
    png = png_bytes(32, 32)
    expect_validation(client, MESSAGES["image_format"].format(declared="jpeg", actual="png"), client.converse,
                      modelId=MAVERICK, messages=image_msg(png, "jpeg"))
    expect_validation(client, MESSAGES["image_count"].format(limit=5), client.converse, modelId=MAVERICK,
                      messages=image_msg(png, count=6))
    wide = png_bytes(8001, 2)
    expect_validation(client, MESSAGES["image_px"].format(w=8001, h=2, limit=8000), client.converse,
                      modelId=MAVERICK, messages=image_msg(wide))
    big = png_bytes(1200, 1100, noise=True)
    assert len(big) > 3_750_000
    expect_validation(client, MESSAGES["image_bytes"].format(size=len(big), limit=3750000), client.converse,
                      modelId=MAVERICK, messages=image_msg(big))
    expect_validation(client, MESSAGES["image_decode"], client.converse, modelId=MAVERICK,
                      messages=image_msg(b"not an image at all"))
    expect_validation(client, MESSAGES["image_unsupported"].format(actual="bmp"), client.invoke_model,
                      modelId=MAVERICK, body=json.dumps({"prompt": "x", "images": [b64(png_bytes(8, 8, "BMP"))]}))


def test_images_on_text_only_card(client):
    expect_validation(client, MESSAGES["no_images"], client.converse, modelId=LLAMA33,
                      messages=image_msg(png_bytes(8, 8)))


def test_context_window_rules(client):
    # Llama 3.3 card: 128,000-token window. Rule 1: input alone over the window.
    words = "tok " * 130_000
    expect_validation(client, MESSAGES["too_long"], client.converse, modelId=LLAMA33, messages=user(words))
    # Rule 2: input + explicit maxTokens over the window (input alone fits).
    words = "tok " * 125_000
    count = client.count_tokens(modelId=LLAMA33_BARE, input={"converse": {"messages": user(words)}})["inputTokens"]
    assert count < 128_000
    msg = MESSAGES["context_sum"].format(input=count, max=8000, window=128000)
    expect_validation(client, msg, client.converse, modelId=LLAMA33, messages=user(words),
                      inferenceConfig={"maxTokens": 8000})


def test_tools_rejected(client):
    expect_validation(client, MESSAGES["tools"], client.converse, modelId=MAVERICK, messages=user("x"),
                      toolConfig={"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}]})
