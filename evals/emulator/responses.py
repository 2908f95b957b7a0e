"""Response payloads of each operation (plain dicts / frames); no sockets here.

ASSUMPTION: the InvokeModel answer to a messages-style Llama body is an OpenAI-chat-like object; its real shape
is unconfirmed (see docs/emulator.md).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from evals.emulator.engines import Generation
from evals.emulator.eventstream import event_frame
from evals.emulator.validation import GenRequest

_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LLAMA_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def pad(n: int) -> str:
    """The random-length `p` padding key real stream payloads carry (length chosen by the caller's rng)."""
    return _PAD[: max(1, n % len(_PAD))]


def usage(req: GenRequest, gen: Generation) -> dict[str, int]:
    return {
        "inputTokens": req.input_tokens,
        "outputTokens": gen.output_tokens,
        "totalTokens": req.input_tokens + gen.output_tokens,
    }


def _echoes(req: GenRequest) -> dict[str, Any]:
    """What served the request: the requested tier and latency mode, or the defaults that served it."""
    return {"serviceTier": {"type": req.service_tier or "default"},
            "performanceConfig": {"latency": req.performance_latency or "standard"}}


def converse(req: GenRequest, gen: Generation, latency_ms: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": gen.text}]}},
        "stopReason": gen.stop_reason,
        "usage": usage(req, gen),
        "metrics": {"latencyMs": latency_ms},
        **_echoes(req),
    }


def invoke(req: GenRequest, gen: Generation, request_id: str) -> dict[str, Any]:
    if req.style == "messages":
        return {
            "id": request_id,
            "object": "chat.completion",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": gen.text},
                "finish_reason": LLAMA_STOP[gen.stop_reason],
            }],
            "usage": {
                "prompt_tokens": req.input_tokens,
                "completion_tokens": gen.output_tokens,
                "total_tokens": req.input_tokens + gen.output_tokens,
            },
        }
    return {
        "generation": gen.text,
        "prompt_token_count": req.input_tokens,
        "generation_token_count": gen.output_tokens,
        "stop_reason": LLAMA_STOP[gen.stop_reason],
    }


# ConverseStream frames
def converse_start(p: int) -> bytes:
    return event_frame("messageStart", {"p": pad(p), "role": "assistant"})


def converse_delta(text: str, p: int) -> bytes:
    return event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}, "p": pad(p)})


def converse_end(req: GenRequest, gen: Generation, latency_ms: int, p: int) -> bytes:
    return (
        event_frame("contentBlockStop", {"contentBlockIndex": 0, "p": pad(p)})
        + event_frame("messageStop", {"p": pad(p + 7), "stopReason": gen.stop_reason})
        + event_frame("metadata", {"metrics": {"latencyMs": latency_ms}, "p": pad(p + 13),
                                   "usage": usage(req, gen), **_echoes(req)})
    )


# InvokeModelWithResponseStream frames
def invoke_chunk(req: GenRequest, request_id: str, index: int, text: str, last: bool, gen: Generation,
                 metrics: dict[str, int] | None, p: int) -> bytes:
    """One `chunk` event; `index` is the 0-based token index, metrics only on the last chunk."""
    body: dict[str, Any]
    if req.style == "messages":
        body = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text},
                         "finish_reason": LLAMA_STOP[gen.stop_reason] if last else None}],
        }
    else:
        body = {
            "generation": text,
            "prompt_token_count": req.input_tokens if index == 0 else None,
            "generation_token_count": min(index + 1, gen.output_tokens),
            "stop_reason": LLAMA_STOP[gen.stop_reason] if last else None,
        }
    if last and metrics is not None:
        body["amazon-bedrock-invocationMetrics"] = metrics
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return event_frame("chunk", {"bytes": base64.b64encode(raw).decode("ascii"), "p": pad(p)})
