"""Synthetic run directories for the report tests, written with the real RunDirectory and RecordWriter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evals.results.rundir import RecordWriter, RunDirectory
from evals.results.schema import RECORD_FIELDS, RECORD_SCHEMA_VERSION


def record(**fields: Any) -> dict[str, Any]:
    """A complete successful record (every schema field present); keyword arguments override fields."""
    base: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    base.update({
        "schema": RECORD_SCHEMA_VERSION, "run_id": "run-a", "request_id": "r0", "index": 0, "sample_id": "s0",
        "suite": "demo", "suite_version": "1", "cluster": None, "region": "us-east-1", "api": "converse",
        "tier": "default", "model_id": "us.meta.llama4-maverick-17b-instruct-v1:0", "repeat": 0, "warmup": False,
        "status": "ok", "attempts": 1, "throttles": 0, "backoff_ms": 0.0, "t_intended_ms": 0.0,
        "t_sent_ms": 0.0, "send_lag_ms": 0.0, "t_done_ms": 100.0, "latency_ms": 100.0, "last_attempt_ms": 100.0,
        "server_latency_ms": 80.0, "client_overhead_ms": 20.0, "input_tokens": 10, "output_tokens": 5,
        "stop_reason": "end_turn", "image_count": 0, "image_bytes": 0, "image_pixels": 0, "image_formats": [],
        "prompt_chars": 42, "response_text": "yes", "expected": "yes", "score": 1.0, "scores": {"exact": 1.0},
        "cost_usd": 0.001, "aws_request_id": "req-0",
    })
    base.update(fields)
    if base["status"] == "error":
        base.update({k: fields.get(k) for k in ("response_text", "score", "input_tokens", "output_tokens",
                                                 "server_latency_ms", "client_overhead_ms", "cost_usd")})
        base["scores"] = fields.get("scores", {})
        base.setdefault("error_class", "fatal")
    return base


def run_info(run_id: str, **fields: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run_id,
        "status": "completed",
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "finished_at": "2026-01-01T00:01:30.000+00:00",
        "origin_wall": "2026-01-01T00:00:00.000+00:00",
        "config": {"load": {"strategy": "closed", "concurrency": 4}, "run": {"seed": 7, "repeats": 1}},
        "target": {"kind": "local", "emulator": True, "engine": "synthetic", "latency_profile": "realistic",
                   "latency_scale": 1.0, "auth": "sigv4",
                   "note": "Requests were served by the bedrock-evals emulator, not Amazon Bedrock."},
        "model": {"card": "llama4-maverick", "model_id": "meta.llama4-maverick-17b-instruct-v1:0",
                  "ids_sent": {"us-east-1": "us.meta.llama4-maverick-17b-instruct-v1:0"}},
        "suites": [{"name": "demo", "version": "1", "source": "test", "samples": 10}],
        "cells": {"apis": ["converse"], "regions": ["us-east-1"], "tiers": ["default"]},
        "planned": 10,
        "provenance": {"harness": "0.1.0", "python": "3.11", "boto3": "1.40.0", "botocore": "1.40.0",
                       "git_sha": "abc123", "host": {"hostname": "testhost"}, "argv": ["suite=demo"]},
        "budget": {"tokens_used": 150, "cost_usd": 0.01},
        "flags": {"send_lag_p99_ms": None, "client_bound": False},
    }
    info.update(fields)
    return info


def write_run(parent: Path, run_id: str, records: Iterable[Mapping[str, Any]], **info: Any) -> Path:
    run_dir = RunDirectory.create(parent, run_id)
    run_dir.write_run(run_info(run_id, **info))
    writer = RecordWriter(run_dir.records_file)
    for rec in records:
        writer.write(dict(rec, run_id=run_id))
    writer.close()
    return run_dir.path
