"""The record and run-file schema: one place that names every field a record carries and what it means.

Times are milliseconds on one monotonic clock (`time.perf_counter_ns`), relative to the run's start
(`run.json` holds the wall-clock start); a resumed session continues the same timeline, anchored on the wall
clock of the first start. Token counts always come from the service, never a client tokenizer.
"""

from __future__ import annotations

RECORD_SCHEMA_VERSION = 1

RECORD_FIELDS: dict[str, str] = {
    "schema": "record schema version",
    "run_id": "run directory name",
    "session": "0 for the first session of the run, k for its k-th resume (times share one timeline)",
    "request_id": "stable hash of (suite, sample, api, region, tier, repeat, load level)",
    "index": "position in the interleaved plan",
    "sample_id": "suite item id",
    "suite": "suite name",
    "suite_version": "suite version",
    "cluster": "cluster key for clustered intervals (item or shared passage), may be null",
    "region": "region the client called",
    "api": "converse | invoke | converse_stream | invoke_stream",
    "tier": "service tier requested (default, priority, flex, reserved)",
    "model_id": "model id or inference profile id sent",
    "repeat": "repeat number, 0-based",
    "warmup": "true when the request is inside the configured warm-up",
    "load_level": "sweep level (concurrency or rate) or null",
    "status": "ok | error",
    "error_code": "service error code (ThrottlingException, ...) or a client code (ReadTimeout, ...); null when ok",
    "error_class": "throttle | transient | client | fatal; null when ok",
    "error_message": "the service's error message (untrusted text)",
    "attempts": "HTTP attempts made, retries included",
    "throttles": "attempts that ended in a throttle",
    "backoff_ms": "time spent waiting between attempts (part of latency_ms, reported separately)",
    "t_intended_ms": "when the scheduler meant to send it",
    "t_sent_ms": "when the first attempt left the client",
    "send_lag_ms": "t_sent_ms - t_intended_ms (client-side queueing; coordinated omission shows here)",
    "t_first_token_ms": "first content delta (streaming only)",
    "t_done_ms": "last byte of the response (or the error)",
    "latency_ms": "e2e latency: t_done_ms - t_sent_ms, retries and backoff included",
    "last_attempt_ms": "the last attempt's own duration",
    "ttft_ms": "t_first_token_ms - t_sent_ms (streaming only)",
    "tpot_ms": "(t_done - t_first_token) / (output_tokens - 1) (streaming only, output_tokens > 1)",
    "itl_ms": "gaps between consecutive content deltas (streaming only)",
    "delta_chars": "characters carried by each content delta (streaming only)",
    "server_latency_ms": "service-reported latency (Converse metrics.latencyMs, Invoke latency header, stream metrics)",
    "client_overhead_ms": "last_attempt_ms - server_latency_ms (the service's figure covers its last attempt)",
    "input_tokens": "service-reported input tokens",
    "output_tokens": "service-reported output tokens",
    "stop_reason": "service stop reason",
    "image_count": "images sent",
    "image_bytes": "total encoded image bytes sent",
    "image_pixels": "total pixels sent",
    "image_formats": "formats of the images sent",
    "prompt": "the prompt text, cut at 2,000 characters (untrusted text)",
    "prompt_chars": "length of the whole prompt text",
    "response_text": "model output (untrusted text); null on error",
    "expected": "the suite's expected answer, may be null",
    "score": "primary score in [0, 1]; null when the request errored or has no scorer",
    "scores": "every scorer's value by name",
    "score_error": "why a successful response has no score (e.g. the judge model's request failed), else null",
    "cost_usd": "estimated cost from the model card's prices and the service's token counts; null without them",
    "aws_request_id": "x-amzn-RequestId of the last attempt",
}

RUN_STATUSES = ("running", "completed", "interrupted", "budget-stopped", "failed")

RUN_FIELDS: dict[str, str] = {
    "run_id": "the run directory's name",
    "status": f"one of {', '.join(RUN_STATUSES)}",
    "started_at": "wall-clock start (ISO 8601, UTC)",
    "finished_at": "wall-clock end, null while running",
    "config": "the resolved Hydra config of the run (secrets replaced by ***)",
    "provenance": "versions, git sha and argv of the harness that ran it",
    "target": "where requests went: kind (local | aws), emulator (true/false), and what the emulator reports",
    "model": "the model card measured (model_id, name, ...)",
    "suites": "suites run: name, version, source, samples",
    "cells": "configured regions, apis and tiers, in configured order (the report's reference levels)",
}


def markdown() -> str:
    """docs/records.md: every record field and the run.json keys the docs name (tests keep it current)."""
    lines = ["# Record and run file fields", "",
             "Generated from `evals/results/schema.py` (`python -m evals.results.schema > docs/records.md`); "
             f"record schema version {RECORD_SCHEMA_VERSION}. " + " ".join((__doc__ or "").split("\n\n")[1].split()),
             "", "## records.jsonl: one JSON object per finished request", "", "| field | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v.replace('|', '/')} |" for k, v in RECORD_FIELDS.items()]
    lines += ["", "## run.json", "", "| key | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v.replace('|', '/')} |" for k, v in RUN_FIELDS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
