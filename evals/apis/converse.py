"""Converse and ConverseStream: kwargs for boto3, response parsing, stream assembly.

Image bytes go to boto3 raw; botocore base64-encodes them while serialising, before the request is timed.
`serviceTier` is always sent, `{"type": "default"}` included, so the wire states the tier a record claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evals.apis.common import StreamAssembler, as_float, as_int, effective_max_tokens
from evals.types import Reply, Request


def build_converse_kwargs(request: Request, metadata: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for `client.converse` / `client.converse_stream`."""
    sample = request.sample
    content: list[dict[str, Any]] = [
        {"image": {"format": img.format, "source": {"bytes": img.data}}} for img in sample.images
    ]
    content.append({"text": sample.prompt})
    inference: dict[str, Any] = {"maxTokens": effective_max_tokens(request)}
    params = request.params
    if params.temperature is not None:
        inference["temperature"] = float(params.temperature)
    if params.top_p is not None:
        inference["topP"] = float(params.top_p)
    if params.stop:
        inference["stopSequences"] = list(params.stop)
    kwargs: dict[str, Any] = {
        "modelId": request.model_id,
        "messages": [{"role": "user", "content": content}],
        "inferenceConfig": inference,
        "serviceTier": {"type": request.tier},
    }
    if sample.system:
        kwargs["system"] = [{"text": sample.system}]
    if metadata:
        kwargs["requestMetadata"] = dict(metadata)
    return kwargs


def _usage(usage: Mapping[str, Any] | None) -> tuple[int | None, int | None]:
    usage = usage or {}
    return as_int(usage.get("inputTokens")), as_int(usage.get("outputTokens"))


def parse_converse(response: Mapping[str, Any]) -> Reply:
    """Reply from a parsed Converse response (text blocks joined; non-text blocks ignored)."""
    message = (response.get("output") or {}).get("message") or {}
    text = "".join(
        block["text"] for block in message.get("content") or () if isinstance(block.get("text"), str)
    )
    input_tokens, output_tokens = _usage(response.get("usage"))
    return Reply(
        text=text,
        stop_reason=response.get("stopReason"),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        server_latency_ms=as_float((response.get("metrics") or {}).get("latencyMs")),
    )


class ConverseStreamAssembler(StreamAssembler):
    """Feeds on ConverseStream events as they arrive; assembles text, usage and the per-delta trace."""

    def feed(self, event: Mapping[str, Any], t_ns: int) -> None:
        self.events += 1
        delta = event.get("contentBlockDelta")
        if delta is not None:
            text = (delta.get("delta") or {}).get("text")
            if text:
                self.add_text(text, t_ns)
            return
        stop = event.get("messageStop")
        if stop is not None:
            self.stop_reason = stop.get("stopReason")
            return
        meta = event.get("metadata")
        if meta is not None:
            self.input_tokens, self.output_tokens = _usage(meta.get("usage"))
            self.server_latency_ms = as_float((meta.get("metrics") or {}).get("latencyMs"))
