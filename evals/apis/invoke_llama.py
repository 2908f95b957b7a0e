"""InvokeModel bodies for Meta Llama (chat template or messages style), response parsing, stream assembly.

The body is JSON-dumped to bytes here, images base64-encoded included, so that cost is paid before the
transport starts its clock. Response parsing is defensive: the Llama native shape
(`generation`, `prompt_token_count`, ...) and a chat-completion-like shape (`choices`, `usage`) are both read,
token counts fall back to the `X-Amzn-Bedrock-*-Token-Count` headers, server latency comes from
`X-Amzn-Bedrock-Invocation-Latency`. The prompt-style Llama body has no stop-sequence field, so `params.stop`
is sent only in the messages style (as `stop`, chat-completion style; UNCONFIRMED on Bedrock).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from evals.apis.common import StreamAssembler, as_float, as_int, effective_max_tokens, header
from evals.types import Reply, Request, Sample

BODY_STYLES = ("prompt", "messages")
FAMILIES = ("llama4", "llama3")

_TOKENS = {
    # family: (begin, header_start, header_end, end_of_turn)
    "llama4": ("<|begin_of_text|>", "<|header_start|>", "<|header_end|>", "<|eot|>"),
    "llama3": ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
}
IMAGE_TOKEN = "<|image|>"

HDR_INPUT_TOKENS = "X-Amzn-Bedrock-Input-Token-Count"
HDR_OUTPUT_TOKENS = "X-Amzn-Bedrock-Output-Token-Count"
HDR_LATENCY = "X-Amzn-Bedrock-Invocation-Latency"
INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"


def llama_prompt(sample: Sample, family: str) -> str:
    """The chat-template prompt: optional system turn, one user turn (one image placeholder per image first)."""
    try:
        begin, h_start, h_end, eot = _TOKENS[family]
    except KeyError:
        raise ValueError(f"unknown Llama family {family!r} (known: {', '.join(FAMILIES)})") from None
    parts = [begin]
    if sample.system:
        parts.append(f"{h_start}system{h_end}\n\n{sample.system}{eot}")
    parts.append(f"{h_start}user{h_end}\n\n{IMAGE_TOKEN * len(sample.images)}{sample.prompt}{eot}")
    parts.append(f"{h_start}assistant{h_end}\n\n")
    return "".join(parts)


def build_invoke_body(request: Request, family: str, style: str = "prompt") -> dict[str, Any]:
    """The model-native body as a dict (before JSON encoding); `style` is "prompt" or "messages"."""
    sample = request.sample
    params = request.params
    max_tokens = effective_max_tokens(request)
    if style == "prompt":
        body: dict[str, Any] = {"prompt": llama_prompt(sample, family), "max_gen_len": max_tokens}
        if params.temperature is not None:
            body["temperature"] = float(params.temperature)
        if params.top_p is not None:
            body["top_p"] = float(params.top_p)
        if sample.images:
            body["images"] = [base64.b64encode(img.data).decode("ascii") for img in sample.images]
        return body
    if style == "messages":
        if sample.images:
            raise ValueError("the messages-style InvokeModel body has no documented image form; use style=prompt")
        messages = [{"role": "system", "content": sample.system}] if sample.system else []
        messages.append({"role": "user", "content": sample.prompt})
        body = {"messages": messages, "max_tokens": max_tokens}
        if params.temperature is not None:
            body["temperature"] = float(params.temperature)
        if params.top_p is not None:
            body["top_p"] = float(params.top_p)
        if params.stop:
            body["stop"] = list(params.stop)
        return body
    raise ValueError(f"unknown InvokeModel body style {style!r} (known: {', '.join(BODY_STYLES)})")


def build_invoke_kwargs(
    request: Request, family: str, metadata: Mapping[str, str], style: str = "prompt"
) -> dict[str, Any]:
    """Keyword arguments for `client.invoke_model` / `client.invoke_model_with_response_stream`."""
    body = build_invoke_body(request, family, style)
    kwargs: dict[str, Any] = {
        "modelId": request.model_id,
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        "contentType": "application/json",
        "accept": "application/json",
        "serviceTier": request.tier,
    }
    if metadata:
        kwargs["requestMetadata"] = json.dumps(dict(metadata), separators=(",", ":"))
    return kwargs


def _content_text(content: Any) -> str:
    """Text of a chat message content that is either a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block.get("text", "") for block in content if isinstance(block, Mapping) and block.get("text")
        )
    return ""


def _read_payload(payload: Mapping[str, Any]) -> tuple[str, str | None, int | None, int | None]:
    """(text, stop_reason, input_tokens, output_tokens) from either response style; missing parts are None."""
    if "generation" in payload:
        return (
            payload.get("generation") or "",
            payload.get("stop_reason"),
            as_int(payload.get("prompt_token_count")),
            as_int(payload.get("generation_token_count")),
        )
    text = ""
    stop = payload.get("stop_reason")
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        choice = choices[0]
        message = choice.get("message") or choice.get("delta") or {}
        text = _content_text(message.get("content")) if isinstance(message, Mapping) else ""
        if not text and isinstance(choice.get("text"), str):
            text = choice["text"]
        stop = choice.get("finish_reason") or choice.get("stop_reason") or stop
    elif isinstance(payload.get("text"), str):
        text = payload["text"]
    usage = payload.get("usage") or {}
    input_tokens = as_int(usage.get("prompt_tokens", usage.get("input_tokens")))
    output_tokens = as_int(usage.get("completion_tokens", usage.get("output_tokens")))
    return text, stop, input_tokens, output_tokens


def parse_invoke(body: bytes | str, headers: Mapping[str, str] | None = None) -> Reply:
    """Reply from an InvokeModel response body plus `ResponseMetadata.HTTPHeaders`."""
    payload = json.loads(body)
    if not isinstance(payload, Mapping):
        raise ValueError("InvokeModel response body is not a JSON object")
    text, stop, input_tokens, output_tokens = _read_payload(payload)
    if input_tokens is None:
        input_tokens = as_int(header(headers, HDR_INPUT_TOKENS))
    if output_tokens is None:
        output_tokens = as_int(header(headers, HDR_OUTPUT_TOKENS))
    return Reply(
        text=text,
        stop_reason=stop,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        server_latency_ms=as_float(header(headers, HDR_LATENCY)),
    )


class InvokeStreamAssembler(StreamAssembler):
    """Feeds on InvokeModelWithResponseStream events (`chunk` with model JSON bytes) as they arrive.

    Per-chunk token counts are running values, so the last non-null one wins; the final chunk's
    `amazon-bedrock-invocationMetrics` is authoritative when present.
    """

    def feed(self, event: Mapping[str, Any], t_ns: int) -> None:
        self.events += 1
        chunk = event.get("chunk")
        if chunk is None:
            return
        raw = chunk.get("bytes")
        if not raw:
            return
        payload = json.loads(raw)
        if not isinstance(payload, Mapping):
            return
        text, stop, input_tokens, output_tokens = _read_payload(payload)
        if text:
            self.add_text(text, t_ns)
        if stop:
            self.stop_reason = stop
        if input_tokens is not None:
            self.input_tokens = input_tokens
        if output_tokens is not None:
            self.output_tokens = output_tokens
        metrics = payload.get(INVOCATION_METRICS)
        if isinstance(metrics, Mapping):
            counted_in = as_int(metrics.get("inputTokenCount"))
            counted_out = as_int(metrics.get("outputTokenCount"))
            if counted_in is not None:
                self.input_tokens = counted_in
            if counted_out is not None:
                self.output_tokens = counted_out
            self.server_latency_ms = as_float(metrics.get("invocationLatency"))
            self.first_byte_latency_ms = as_float(metrics.get("firstByteLatency"))
