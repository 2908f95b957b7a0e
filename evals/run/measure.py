"""Turn one finished request (plan entry + transport outcome + scores) into its record.

Pure: all timing fields are derived here from the outcome's monotonic timestamps, once, with the formulas of
docs/statistics.md, so every consumer (report, compare, gate) reads the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from evals.cards import Pricing
from evals.results.schema import RECORD_SCHEMA_VERSION, Record, record_dict
from evals.types import Reply, Request


class OutcomeLike(Protocol):
    """What a record is built from (read-only: senders return frozen outcomes)."""

    @property
    def status(self) -> str: ...

    @property
    def reply(self) -> Reply | None: ...

    @property
    def error_code(self) -> str | None: ...

    @property
    def error_class(self) -> str | None: ...

    @property
    def error_message(self) -> str | None: ...

    @property
    def attempts(self) -> int: ...

    @property
    def throttles(self) -> int: ...

    @property
    def backoff_ms(self) -> float: ...

    @property
    def t_sent_ns(self) -> int | None: ...

    @property
    def t_first_token_ns(self) -> int | None: ...

    @property
    def t_done_ns(self) -> int | None: ...

    @property
    def last_attempt_ms(self) -> float | None: ...

    @property
    def itl_ms(self) -> tuple[float, ...] | list[float]: ...

    @property
    def delta_chars(self) -> tuple[int, ...] | list[int]: ...

    @property
    def aws_request_id(self) -> str | None: ...


PROMPT_EXCERPT_CHARS = 2000  # enough to recognise an item in the report; records of long prompts stay small


def _ms(ns: int | None, origin_ns: int) -> float | None:
    return None if ns is None else round((ns - origin_ns) / 1e6, 4)


def _diff_ms(a_ns: int | None, b_ns: int | None) -> float | None:
    return None if a_ns is None or b_ns is None else round((b_ns - a_ns) / 1e6, 4)


def latency_ms(outcome: OutcomeLike) -> float | None:
    """e2e latency: t_done - t_sent, retries and backoff included."""
    return _diff_ms(outcome.t_sent_ns, outcome.t_done_ns)


def ttft_ms(outcome: OutcomeLike) -> float | None:
    """t_first_token - t_sent (streaming only)."""
    return _diff_ms(outcome.t_sent_ns, outcome.t_first_token_ns)


def tpot_ms(outcome: OutcomeLike) -> float | None:
    """(t_done - t_first_token) / (output_tokens - 1), output tokens from the service, streaming only."""
    tokens = outcome.reply.output_tokens if outcome.reply is not None and outcome.status == "ok" else None
    if outcome.t_first_token_ns is None or outcome.t_done_ns is None or tokens is None or tokens < 2:
        return None
    return round((outcome.t_done_ns - outcome.t_first_token_ns) / 1e6 / (tokens - 1), 4)


def build_record(
    *,
    run_id: str,
    request: Request,
    outcome: OutcomeLike,
    origin_ns: int,
    t_intended_ns: int,
    scores: Mapping[str, float] | None,
    pricing: Pricing,
    expected: Any = None,
    score_error: str | None = None,
    session: int = 0,
) -> dict[str, Any]:
    """One record: what was asked, how it went and when, and what came back (fields in the documented order)."""
    reply = outcome.reply if outcome.status == "ok" else None
    record = Record(  # the typed schema: a field missing or unknown here is a TypeError, not a silent drift
        **_identity(run_id, request, session),
        **_timing(outcome, reply, origin_ns, t_intended_ns),
        **_content(request, reply, pricing, scores, expected, score_error),
        aws_request_id=outcome.aws_request_id,
    )
    return record_dict(record)


def _identity(run_id: str, request: Request, session: int) -> dict[str, Any]:
    """Which request this is: the run, the sample and the cell it was planned for."""
    sample = request.sample
    return {
        "schema": RECORD_SCHEMA_VERSION,
        "run_id": run_id,
        "session": session,
        "request_id": request.request_id,
        "index": request.index,
        "sample_id": sample.id,
        "suite": request.suite,
        "suite_version": request.suite_version,
        "cluster": sample.cluster or sample.id,
        "region": request.region,
        "api": request.api,
        "tier": request.tier,
        "model_id": request.model_id,
        "repeat": request.repeat,
        "warmup": request.warmup,
        "load_level": request.load_level,
    }


def _timing(outcome: OutcomeLike, reply: Reply | None, origin_ns: int, t_intended_ns: int) -> dict[str, Any]:
    """How it went: status, attempts and every timing, in ms from the run's origin."""
    server_ms = reply.server_latency_ms if reply else None
    # the service's latency covers its last attempt only; retries and backoff are not client overhead
    overhead = None
    if server_ms is not None and outcome.last_attempt_ms is not None:
        overhead = round(outcome.last_attempt_ms - server_ms, 4)
    return {
        "status": outcome.status,
        "error_code": outcome.error_code,
        "error_class": outcome.error_class,
        "error_message": outcome.error_message,
        "attempts": outcome.attempts,
        "throttles": outcome.throttles,
        "backoff_ms": round(outcome.backoff_ms, 4),
        "t_intended_ms": _ms(t_intended_ns, origin_ns),
        "t_sent_ms": _ms(outcome.t_sent_ns, origin_ns),
        "send_lag_ms": _diff_ms(t_intended_ns, outcome.t_sent_ns),
        "t_first_token_ms": _ms(outcome.t_first_token_ns, origin_ns),
        "t_done_ms": _ms(outcome.t_done_ns, origin_ns),
        "latency_ms": latency_ms(outcome),
        "last_attempt_ms": outcome.last_attempt_ms,
        "ttft_ms": ttft_ms(outcome),
        "tpot_ms": tpot_ms(outcome),
        "itl_ms": list(outcome.itl_ms) or None,
        "delta_chars": list(outcome.delta_chars) or None,
        "server_latency_ms": server_ms,
        "client_overhead_ms": overhead,
    }


def _content(request: Request, reply: Reply | None, pricing: Pricing, scores: Mapping[str, float] | None,
             expected: Any, score_error: str | None) -> dict[str, Any]:
    """What was sent and what came back: tokens, images, prompt excerpt, response, scores and cost."""
    sample = request.sample
    input_tokens = reply.input_tokens if reply else None
    output_tokens = reply.output_tokens if reply else None
    cost = None  # no estimate from missing counts: a client-side guess would pass for the service's figure
    if input_tokens is not None and output_tokens is not None:
        cost = pricing.cost(input_tokens, output_tokens)
    primary = next(iter(scores.values())) if scores else None
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "stop_reason": reply.stop_reason if reply else None,
        "image_count": len(sample.images),
        "image_bytes": sum(len(img.data) for img in sample.images),
        "image_pixels": sum(img.pixels for img in sample.images),
        "image_formats": [img.format for img in sample.images],
        "prompt": sample.prompt[:PROMPT_EXCERPT_CHARS],
        "prompt_chars": len(sample.prompt),
        "response_text": reply.text if reply else None,
        "expected": expected,
        "score": primary if reply else None,
        "scores": dict(scores) if (reply and scores) else {},
        "score_error": score_error,
        "cost_usd": round(cost, 8) if cost is not None else None,
    }
