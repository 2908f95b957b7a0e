"""The record and run-file schema: one place that names every field a record carries and what it means.

Times are milliseconds on one monotonic clock (`time.perf_counter_ns`), relative to the run's start
(`run.json` holds the wall-clock start); a resumed session continues the same timeline, anchored on the wall
clock of the first start. Token counts always come from the service, never a client tokenizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import UnionType
from typing import Any, TypedDict, get_args, get_origin, get_type_hints

RECORD_SCHEMA_VERSION = 1  # a reader refuses records of a newer version; an older one is read as it was written


def _doc(doc: str, column: str | None = None) -> dict[str, str | None]:
    """A record field's metadata: its documentation, and `column="label"` when a text field is a column of the
    reader's table (numbers always are; long or unique texts stay out and are read back whole by line)."""
    return {"doc": doc, "column": column}


@dataclass(frozen=True, kw_only=True)
class Record:
    """One finished request as `records.jsonl` holds it: the writer builds one per request and writes its fields
    in this order, the reader's columns are derived from these types (frozen dataclass: no dependency, and the
    type hints are the schema mypy checks the writer against)."""

    schema: int = field(metadata=_doc("record schema version"))
    run_id: str = field(metadata=_doc("run directory name"))
    session: int = field(metadata=_doc(
        "0 for the first session of the run, k for its k-th resume (times share one timeline)"))
    request_id: str = field(metadata=_doc("stable hash of (suite, sample, api, region, tier, repeat, load level)"))
    index: int = field(metadata=_doc("position in the interleaved plan"))
    sample_id: str = field(metadata=_doc("suite item id", column="label"))
    suite: str = field(metadata=_doc("suite name", column="label"))
    suite_version: str | None = field(metadata=_doc("suite version", column="label"))
    cluster: str | None = field(metadata=_doc(
        "cluster key for clustered intervals (item or shared passage), may be null", column="label"))
    region: str = field(metadata=_doc("region the client called", column="label"))
    api: str = field(metadata=_doc("converse | invoke | converse_stream | invoke_stream", column="label"))
    tier: str = field(metadata=_doc("service tier requested (default, priority, flex, reserved)", column="label"))
    model_id: str = field(metadata=_doc("model id or inference profile id sent", column="label"))
    repeat: int = field(metadata=_doc("repeat number, 0-based"))
    warmup: bool = field(metadata=_doc("true when the request is inside the configured warm-up"))
    load_level: float | None = field(metadata=_doc("sweep level (concurrency or rate) or null"))
    status: str = field(metadata=_doc("ok | error", column="label"))
    error_code: str | None = field(metadata=_doc(
        "service error code (ThrottlingException, ...) or a client code (ReadTimeout, ...); null when ok",
        column="label"))
    error_class: str | None = field(metadata=_doc(
        "throttle | transient | client | fatal; null when ok", column="label"))
    error_message: str | None = field(metadata=_doc("the service's error message (untrusted text)"))
    attempts: int = field(metadata=_doc("HTTP attempts made, retries included"))
    throttles: int = field(metadata=_doc("attempts that ended in a throttle"))
    backoff_ms: float = field(metadata=_doc(
        "time spent waiting between attempts (part of latency_ms, reported separately)"))
    t_intended_ms: float | None = field(metadata=_doc("when the scheduler meant to send it"))
    t_sent_ms: float | None = field(metadata=_doc("when the first attempt left the client"))
    send_lag_ms: float | None = field(metadata=_doc(
        "t_sent_ms - t_intended_ms (client-side queueing; coordinated omission shows here)"))
    t_first_token_ms: float | None = field(metadata=_doc("first content delta (streaming only)"))
    t_done_ms: float | None = field(metadata=_doc("last byte of the response (or the error)"))
    latency_ms: float | None = field(metadata=_doc("e2e latency: t_done_ms - t_sent_ms, retries and backoff included"))
    last_attempt_ms: float | None = field(metadata=_doc("the last attempt's own duration"))
    ttft_ms: float | None = field(metadata=_doc("t_first_token_ms - t_sent_ms (streaming only)"))
    tpot_ms: float | None = field(metadata=_doc(
        "(t_done - t_first_token) / (output_tokens - 1) (streaming only, output_tokens > 1)"))
    itl_ms: list[float] | None = field(metadata=_doc("gaps between consecutive content deltas (streaming only)"))
    delta_chars: list[int] | None = field(metadata=_doc("characters carried by each content delta (streaming only)"))
    server_latency_ms: float | None = field(metadata=_doc(
        "service-reported latency (Converse metrics.latencyMs, Invoke latency header, stream metrics)"))
    client_overhead_ms: float | None = field(metadata=_doc(
        "last_attempt_ms - server_latency_ms (the service's figure covers its last attempt)"))
    input_tokens: int | None = field(metadata=_doc("service-reported input tokens"))
    output_tokens: int | None = field(metadata=_doc("service-reported output tokens"))
    stop_reason: str | None = field(metadata=_doc("service stop reason", column="label"))
    image_count: int = field(metadata=_doc("images sent"))
    image_bytes: int = field(metadata=_doc("total encoded image bytes sent"))
    image_pixels: int = field(metadata=_doc("total pixels sent"))
    image_formats: list[str] = field(metadata=_doc("formats of the images sent"))
    prompt: str = field(metadata=_doc("the prompt text, cut at 2,000 characters (untrusted text)"))
    prompt_chars: int = field(metadata=_doc("length of the whole prompt text"))
    response_text: str | None = field(metadata=_doc("model output (untrusted text); null on error"))
    expected: Any = field(metadata=_doc("the suite's expected answer, may be null"))
    score: float | None = field(metadata=_doc(
        "primary score in [0, 1]; null when the request errored or has no scorer"))
    scores: dict[str, float] = field(metadata=_doc("every scorer's value by name"))
    score_error: str | None = field(metadata=_doc(
        "why a successful response has no score (e.g. the judge model's request failed), else null"))
    cost_usd: float | None = field(metadata=_doc(
        "estimated cost from the model card's prices and the service's token counts; null without them"))
    aws_request_id: str | None = field(metadata=_doc("x-amzn-RequestId of the last attempt"))


RECORD_FIELDS: dict[str, str] = {f.name: f.metadata["doc"] for f in fields(Record)}
_TYPES = get_type_hints(Record)
FLOAT_FIELDS = tuple(name for name, t in _TYPES.items() if t in (int, float, int | None, float | None))
LABEL_FIELDS = tuple(f.name for f in fields(Record) if f.metadata["column"] == "label")
REQUIRED_TEXT = ("request_id", "status", "suite", "region", "api", "tier")  # a line without them is not a record


def record_dict(record: Record) -> dict[str, Any]:
    """The record as the JSON object written (fields in schema order; no deep copy, unlike `asdict`)."""
    return {name: getattr(record, name) for name in RECORD_FIELDS}


RUN_STATUSES = ("running", "completed", "interrupted", "budget-stopped", "failed")
RUN_SCHEMA_VERSION = 1  # run.json's `schema`; a reader refuses a newer one (a run.json without it is version 1)

RUN_FIELDS: dict[str, str] = {
    "schema": "run file schema version",
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
    "clock_origin_unix_ns": "wall clock (Unix ns) of the first start: the origin of every record's times",
    "planned": "requests the plan holds (warm-up included)",
    "fingerprint": "hashes of the suite data, the model card and the config, compared by a resume",
    "resumes": "one entry per resume: when, torn bytes cut, requests already finished, inputs forced despite",
    "quota": "how the regions' quotas were shared (whole, or a share of a sweep's quota) and their keys",
    "client_gc": "the run process's garbage-collection pauses (count, total, longest), to tell them from the "
                 "service's",
    "stop_detail": "why the run stopped, when not simply completed (budget, storage, outcome headline)",
    "counts": "planned, records, ok, errors, throttled, abandoned in flight, unrecorded after a storage failure",
    "quota_waits": "requests that waited for the shared quota, total and longest wait",
    "budget": "tokens and estimated cost used",
    "flags": "send-lag p99 of open-loop groups, and whether the client (not the service) was the bottleneck",
    "outcome": "the run's outcome judged from its records: ok, mostly-failed or failed, with the top errors",
    "judge": "the judge model's tally, when a suite scored with it",
    "sweep": "for a job of a sweep: the sweep's id, the job's number and its overrides",
}


JSON = dict[str, Any]


class RunFile(TypedDict, total=False):
    """run.json as the run writes it and every command reads it: each key's type (checked on read, one line naming
    the key when wrong); what each key means is RUN_FIELDS."""

    schema: int
    run_id: str
    status: str
    started_at: str
    finished_at: str | None
    config: JSON
    provenance: JSON
    target: JSON
    model: JSON
    suites: list[JSON]
    cells: JSON
    clock_origin_unix_ns: int
    planned: int
    fingerprint: JSON
    resumes: list[JSON]
    quota: JSON
    client_gc: JSON
    stop_detail: str | None
    counts: JSON
    quota_waits: JSON
    budget: JSON
    flags: JSON
    outcome: JSON
    judge: JSON
    sweep: JSON


def run_file_problem(data: Mapping[str, Any]) -> str | None:
    """Why a parsed run.json's documented keys do not hold their types (one phrase naming the key), or None."""
    for key, hint in get_type_hints(RunFile).items():
        if key not in data:
            continue
        allowed = tuple(get_origin(t) or t for t in (get_args(hint) if get_origin(hint) is UnionType else (hint,)))
        value = data[key]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            wanted = " or ".join("null" if t is type(None) else {dict: "an object", list: "a list", str: "text",
                                                                   int: "an integer"}.get(t, t.__name__)
                                 for t in allowed)
            return f"{key} must be {wanted}, got {type(value).__name__}"
    return None


def _type_text(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("NoneType", "null").replace("|", "or")


def markdown() -> str:
    """docs/records.md: every record field and the run.json keys the docs name (tests keep it current)."""
    lines = ["# Record and run file fields", "",
             "Generated from `evals/results/schema.py` (`python -m evals.results.schema > docs/records.md`); "
             f"record schema version {RECORD_SCHEMA_VERSION}. " + " ".join((__doc__ or "").split("\n\n")[1].split()),
             "", "## records.jsonl: one JSON object per finished request", "",
             "The run writes each record through the typed `Record` model (`evals/results/schema.py`), so a "
             "record carries exactly these fields, in this order. `report`, `compare`, `gate` and `history` read "
             "records as columns (`evals/results/reader.py`): every number, and the texts marked *column* "
             "below, one array each; the other texts (prompts, answers, messages) are read back whole only for "
             "the few records a page shows. A record of a newer schema version than this bedrock-evals reads is "
             "refused with its file and line.", "", "| field | type | meaning |", "|---|---|---|"]
    hints = get_type_hints(Record)
    lines += [f"| `{f.name}` | {_type_text(hints[f.name])}{' (column)' if f.metadata['column'] else ''} | "
              f"{f.metadata['doc'].replace('|', '/')} |" for f in fields(Record)]
    lines += ["", "## run.json", "", "Typed by `RunFile`; a key of the wrong type, or a `schema` newer than this "
              f"bedrock-evals reads ({RUN_SCHEMA_VERSION}), is refused in one line naming the key.", "",
              "| key | type | meaning |", "|---|---|---|"]
    run_types = get_type_hints(RunFile)
    lines += [f"| `{k}` | {_type_text(run_types[k]).replace('dict[str, Any]', 'object')} | {v.replace('|', '/')} |"
              for k, v in RUN_FIELDS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
