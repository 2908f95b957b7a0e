"""Golden tests for the pure builders and parsers in evals/apis (no network, no clock).

Set EVALS_UPDATE_GOLDEN=1 to rewrite tests/golden/*.json after a deliberate change, then review the diff.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from evals.apis.common import StreamTrace, effective_max_tokens
from evals.apis.converse import ConverseStreamAssembler, build_converse_kwargs, parse_converse
from evals.apis.invoke_llama import (
    InvokeStreamAssembler,
    build_invoke_body,
    build_invoke_kwargs,
    llama_prompt,
    parse_invoke,
)
from evals.apis.metadata import MAX_ENTRIES, build_request_metadata, check_metadata
from evals.oracle import MAX_EXPECTED_BYTES, decode_expected
from evals.types import API_CONVERSE, API_INVOKE, ImageInput, InferenceParams, Reply, Request, Sample

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("EVALS_UPDATE_GOLDEN") == "1"

PNG = ImageInput(format="png", data=b"\x89PNG\r\n\x1a\nfake-png", width=4, height=3, source="gen:png")
JPEG = ImageInput(format="jpeg", data=b"\xff\xd8\xff\xe0fake-jpeg", width=8, height=8, source="gen:jpeg")


def _jsonable(value: Any) -> Any:
    """Golden files are JSON: bytes become {"$bytes_b64": ...}, dataclasses become dicts."""
    if isinstance(value, bytes):
        return {"$bytes_b64": base64.b64encode(value).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def check_golden(name: str, actual: Any) -> None:
    path = GOLDEN / f"{name}.json"
    data = _jsonable(actual)
    if UPDATE:
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run with EVALS_UPDATE_GOLDEN=1 once and review it"
    assert data == json.loads(path.read_text(encoding="utf-8"))


def make_request(
    *,
    api: str = API_CONVERSE,
    prompt: str = "What is 2 + 2? Answer with a number.",
    system: str | None = "You are a terse assistant.",
    images: tuple[ImageInput, ...] = (),
    params: InferenceParams | None = None,
    meta: Mapping[str, Any] | None = None,
    tier: str = "default",
) -> Request:
    sample = Sample(id="arith-1", prompt=prompt, answer="4", system=system, images=images, meta=meta or {})
    return Request(
        request_id="r-0f3a9c",
        index=0,
        suite="arith",
        suite_version="1",
        sample=sample,
        params=params or InferenceParams(max_tokens=64, temperature=0.0, top_p=0.9, stop=("</s>",)),
        api=api,
        region="us-east-1",
        tier=tier,
        model_id="us.meta.llama4-maverick-17b-instruct-v1:0",
        repeat=0,
    )


META = {"evals.request_id": "r-0f3a9c"}


# ----- metadata -------------------------------------------------------------------------------------


def test_metadata_golden_with_oracle_and_target_tokens() -> None:
    request = make_request(meta={"target_output_tokens": 12})
    meta = build_request_metadata(request, oracle_text="The answer is 4.")
    check_golden("metadata_oracle", meta)
    check_metadata(meta)
    assert decode_expected(meta) == "The answer is 4."


def test_metadata_without_oracle_has_only_request_id() -> None:
    meta = build_request_metadata(make_request())
    assert meta == {"evals.request_id": "r-0f3a9c"}
    assert decode_expected(meta) is None


def test_metadata_long_unicode_oracle_is_cut_at_a_character_and_fits_the_service_limits() -> None:
    text = "é" * 5000  # 10,000 UTF-8 bytes, far beyond the 14 chunks
    meta = build_request_metadata(make_request(meta={"target_output_tokens": 3}), oracle_text=text)
    check_metadata(meta)
    assert len(meta) == MAX_ENTRIES
    assert all(len(v) <= 256 for v in meta.values())
    decoded = decode_expected(meta)
    assert decoded is not None and text.startswith(decoded)
    assert len(decoded.encode("utf-8")) <= MAX_EXPECTED_BYTES


def test_metadata_cleans_request_ids_outside_the_service_pattern() -> None:
    request = dataclasses.replace(make_request(), request_id="run|1*x")
    meta = build_request_metadata(request)
    assert meta["evals.request_id"] == "run_1_x"
    check_metadata(meta)


def test_check_metadata_rejects_bad_key_and_too_many_entries() -> None:
    with pytest.raises(ValueError):
        check_metadata({"bad|key": "v"})
    with pytest.raises(ValueError):
        check_metadata({f"k{i}": "v" for i in range(17)})


def test_per_item_max_tokens_overrides_suite_params() -> None:
    assert effective_max_tokens(make_request()) == 64
    assert effective_max_tokens(make_request(meta={"max_tokens": 7})) == 7


# ----- Converse -------------------------------------------------------------------------------------


def test_converse_kwargs_text_golden() -> None:
    check_golden("converse_kwargs_text", build_converse_kwargs(make_request(), META))


def test_converse_kwargs_images_golden_keeps_raw_bytes_and_omits_unset_params() -> None:
    request = make_request(
        system=None, images=(PNG, JPEG), params=InferenceParams(max_tokens=256), meta={"max_tokens": 32}
    )
    kwargs = build_converse_kwargs(request, META)
    check_golden("converse_kwargs_images", kwargs)
    image = kwargs["messages"][0]["content"][0]["image"]
    assert image["source"]["bytes"] is PNG.data  # boto3 encodes; no copy, no base64 here
    assert kwargs["inferenceConfig"] == {"maxTokens": 32}
    assert "system" not in kwargs


def test_converse_kwargs_are_accepted_by_botocore_validation() -> None:
    """The kwargs must pass botocore's own parameter validation (no network: validation only)."""
    from botocore.session import Session
    from botocore.validate import ParamValidator

    model = Session().get_service_model("bedrock-runtime")
    for request in (make_request(), make_request(images=(PNG,), tier="priority")):
        kwargs = build_converse_kwargs(request, build_request_metadata(request, oracle_text="x"))
        report = ParamValidator().validate(kwargs, model.operation_model("Converse").input_shape)
        assert not report.has_errors(), report.generate_report()


def test_parse_converse_golden() -> None:
    response = {
        "ResponseMetadata": {"RequestId": "abc", "HTTPStatusCode": 200, "HTTPHeaders": {}},
        "metrics": {"latencyMs": 811},
        "output": {"message": {"content": [{"text": "The answer"}, {"text": " is 4."}], "role": "assistant"}},
        "stopReason": "max_tokens",
        "usage": {"inputTokens": 8, "outputTokens": 10, "totalTokens": 18},
    }
    reply = parse_converse(response)
    check_golden("parse_converse", reply)
    assert reply == Reply("The answer is 4.", "max_tokens", 8, 10, 811.0)


CONVERSE_EVENTS = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "The"}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": " answer"}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": " is 4."}}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {"messageStop": {"stopReason": "end_turn"}},
    {"metadata": {"usage": {"inputTokens": 8, "outputTokens": 4, "totalTokens": 12}, "metrics": {"latencyMs": 95}}},
]


def test_converse_stream_assembler_golden() -> None:
    asm = ConverseStreamAssembler()
    for i, event in enumerate(CONVERSE_EVENTS):
        asm.feed(event, 1_000_000_000 + i * 2_500_000)  # a fake clock: 2.5 ms per event
    result = {"reply": asm.reply(), "itl_ms": asm.trace.itl_ms(), "delta_chars": asm.trace.delta_chars}
    check_golden("converse_stream", result)
    assert asm.trace.first_ns == 1_002_500_000
    assert asm.complete
    assert len(asm.trace.itl_ms()) == len(asm.trace.delta_chars) - 1 == 2


# ----- InvokeModel (Llama) --------------------------------------------------------------------------


def test_llama4_prompt_template_with_system_and_images() -> None:
    sample = make_request(images=(PNG, JPEG)).sample
    assert llama_prompt(sample, "llama4") == (
        "<|begin_of_text|><|header_start|>system<|header_end|>\n\nYou are a terse assistant.<|eot|>"
        "<|header_start|>user<|header_end|>\n\n<|image|><|image|>What is 2 + 2? Answer with a number.<|eot|>"
        "<|header_start|>assistant<|header_end|>\n\n"
    )


def test_llama3_prompt_template_without_system() -> None:
    sample = make_request(system=None).sample
    assert llama_prompt(sample, "llama3") == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 2? Answer with a number."
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_unknown_family_and_style_are_value_errors() -> None:
    with pytest.raises(ValueError):
        llama_prompt(make_request().sample, "mistral")
    with pytest.raises(ValueError):
        build_invoke_body(make_request(), "llama4", style="chat")
    with pytest.raises(ValueError):
        build_invoke_body(make_request(images=(PNG,)), "llama4", style="messages")


def test_invoke_kwargs_llama4_prompt_images_golden() -> None:
    request = make_request(api=API_INVOKE, images=(PNG,), meta={"target_output_tokens": 5})
    kwargs = build_invoke_kwargs(request, "llama4", build_request_metadata(request), style="prompt")
    body = json.loads(kwargs["body"])
    check_golden("invoke_llama4_prompt", {**kwargs, "body": body})
    assert isinstance(kwargs["body"], bytes)
    assert base64.b64decode(body["images"][0]) == PNG.data
    assert json.loads(kwargs["requestMetadata"]) == {
        "evals.request_id": "r-0f3a9c",
        "evals.target_output_tokens": "5",
    }


def test_invoke_kwargs_llama3_prompt_golden() -> None:
    request = make_request(api=API_INVOKE, params=InferenceParams(max_tokens=100))
    kwargs = build_invoke_kwargs(request, "llama3", META)
    check_golden("invoke_llama3_prompt", {**kwargs, "body": json.loads(kwargs["body"])})


def test_invoke_body_messages_style_golden() -> None:
    body = build_invoke_body(make_request(api=API_INVOKE, meta={"max_tokens": 9}), "llama4", style="messages")
    check_golden("invoke_messages_body", body)
    assert body["max_tokens"] == 9


def test_parse_invoke_llama_native_golden() -> None:
    body = json.dumps(
        {"generation": "4", "prompt_token_count": 21, "generation_token_count": 2, "stop_reason": "stop"}
    ).encode()
    headers = {
        "x-amzn-bedrock-input-token-count": "99",  # the body wins when it has counts
        "x-amzn-bedrock-output-token-count": "99",
        "x-amzn-bedrock-invocation-latency": "312",
    }
    reply = parse_invoke(body, headers)
    check_golden("parse_invoke_native", reply)
    assert (reply.input_tokens, reply.output_tokens, reply.server_latency_ms) == (21, 2, 312.0)


def test_parse_invoke_chat_completion_style_falls_back_to_headers() -> None:
    body = json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}]}
    )
    headers = {
        "X-Amzn-Bedrock-Input-Token-Count": "17",
        "X-Amzn-Bedrock-Output-Token-Count": "1",
        "X-Amzn-Bedrock-Invocation-Latency": "205",
    }
    reply = parse_invoke(body, headers)
    check_golden("parse_invoke_chat", reply)
    assert reply == Reply("4", "stop", 17, 1, 205.0)


def test_parse_invoke_chat_completion_usage_and_content_blocks() -> None:
    body = json.dumps(
        {
            "choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"text": "b"}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
    )
    reply = parse_invoke(body, None)
    assert (reply.text, reply.input_tokens, reply.output_tokens, reply.server_latency_ms) == ("ab", 3, 2, None)


def _chunk(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What boto3 yields for a `chunk` event: the base64 on the wire already decoded to bytes."""
    return {"chunk": {"bytes": json.dumps(payload).encode()}}


INVOKE_CHUNKS = [
    _chunk({"generation": "The", "prompt_token_count": 21, "generation_token_count": 1, "stop_reason": None}),
    _chunk({"generation": " answer", "prompt_token_count": None, "generation_token_count": 2, "stop_reason": None}),
    _chunk({"generation": " is 4.", "prompt_token_count": None, "generation_token_count": 4, "stop_reason": None}),
    _chunk(
        {
            "generation": "",
            "prompt_token_count": None,
            "generation_token_count": 4,
            "stop_reason": "stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 21,
                "outputTokenCount": 4,
                "invocationLatency": 140,
                "firstByteLatency": 61,
            },
        }
    ),
]


def test_invoke_stream_assembler_golden() -> None:
    asm = InvokeStreamAssembler()
    for i, event in enumerate(INVOKE_CHUNKS):
        asm.feed(event, 5_000_000 + i * 1_000_000)
    result = {"reply": asm.reply(), "itl_ms": asm.trace.itl_ms(), "delta_chars": asm.trace.delta_chars}
    check_golden("invoke_stream", result)
    reply = asm.reply()
    assert reply == Reply("The answer is 4.", "stop", 21, 4, 140.0, 61.0)
    assert len(asm.trace.delta_chars) == 3  # the empty final chunk is not a content delta
    assert asm.complete


def test_stream_cut_short_is_not_complete() -> None:
    converse = ConverseStreamAssembler()
    for i, event in enumerate(CONVERSE_EVENTS[:3]):
        converse.feed(event, i)
    invoke = InvokeStreamAssembler()
    for i, event in enumerate(INVOKE_CHUNKS[:2]):
        invoke.feed(event, i)
    assert not converse.complete and not invoke.complete


def test_stream_trace_gaps() -> None:
    trace = StreamTrace()
    assert trace.first_ns is None and trace.itl_ms() == ()
    for t in (0, 1_000_000, 4_000_000):
        trace.add(t, 1)
    assert trace.itl_ms() == (1.0, 3.0)
