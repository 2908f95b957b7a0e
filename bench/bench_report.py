"""Report rendering time and peak memory on synthetic runs of increasing size.

Each size runs in its own process (peak RSS from `resource.getrusage` is per process): it writes a run
directory with the real RecordWriter (every schema field filled, 2 regions x 2 APIs, one of them streaming with
per-request inter-token gaps, 2 % errors, 1 % throttled), then times `render_run` with both exports.

    .venv/bin/python bench/bench_report.py            # 20k and 200k records
    .venv/bin/python bench/bench_report.py 5000 50000
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evals.results.rundir import RecordWriter, RunDirectory
from evals.results.schema import RECORD_FIELDS, RECORD_SCHEMA_VERSION

CELLS = [(region, api) for region in ("us-east-1", "us-west-2") for api in ("converse", "converse_stream")]


def write_synthetic_run(parent: Path, n: int, seed: int = 0) -> Path:
    """A completed emulator-like run of n measured records (plus 1 % warm-up) with realistic field values."""
    rng = np.random.default_rng(seed)
    run_dir = RunDirectory.create(parent, f"bench-{n}")
    rate = 50.0  # requests/s offered
    run_dir.write_run({
        "run_id": run_dir.path.name, "status": "completed",
        "started_at": "2026-01-01T00:00:00.000+00:00", "finished_at": "2026-01-01T01:00:00.000+00:00",
        "origin_wall": "2026-01-01T00:00:00.000+00:00",
        "config": {"load": {"strategy": "poisson", "rate": rate}, "run": {"seed": seed, "repeats": 4}},
        "target": {"kind": "local", "emulator": True, "engine": "synthetic", "latency_profile": "realistic",
                   "note": "synthetic benchmark records"},
        "model": {"card": "llama4-maverick", "model_id": "meta.llama4-maverick-17b-instruct-v1:0",
                  "ids_sent": {"us-east-1": "us.meta.llama4-maverick-17b-instruct-v1:0",
                               "us-west-2": "us.meta.llama4-maverick-17b-instruct-v1:0"}},
        "suites": [{"name": "bench", "version": "1", "source": "synthetic", "samples": n // 16}],
        "cells": {"apis": ["converse", "converse_stream"], "regions": ["us-east-1", "us-west-2"],
                  "tiers": ["default"]},
        "planned": n, "provenance": {"harness": "bench"}, "budget": {}, "flags": {},
    })
    writer = RecordWriter(run_dir.records_file)
    warm = n // 100
    t_sent = np.cumsum(rng.exponential(1000.0 / rate, n + warm))
    for i in range(n + warm):
        region, api = CELLS[i % len(CELLS)]
        streamed = api.endswith("_stream")
        lat = float(rng.lognormal(6.0 + 0.15 * (region == "us-west-2"), 0.35))
        out_tok = int(rng.integers(20, 200))
        ok = rng.random() >= 0.02
        throttled = int(rng.random() < 0.01)
        rec = dict.fromkeys(RECORD_FIELDS)
        rec.update({
            "schema": RECORD_SCHEMA_VERSION, "run_id": run_dir.path.name, "request_id": f"{i:012x}", "index": i,
            "sample_id": f"item-{(i // len(CELLS)) % (n // 16 or 1)}", "suite": "bench", "suite_version": "1",
            "cluster": f"item-{(i // len(CELLS)) % (n // 16 or 1)}", "region": region, "api": api,
            "tier": "default", "model_id": "us.meta.llama4-maverick-17b-instruct-v1:0",
            "repeat": i // (len(CELLS) * (n // 16 or 1)), "warmup": i < warm, "status": "ok" if ok else "error",
            "attempts": 1 + throttled, "throttles": throttled, "backoff_ms": 120.0 * throttled,
            "t_intended_ms": float(t_sent[i]), "t_sent_ms": float(t_sent[i]) + 0.2, "send_lag_ms": 0.2,
            "t_done_ms": float(t_sent[i]) + 0.2 + lat, "latency_ms": lat, "last_attempt_ms": lat,
            "image_count": 0, "image_bytes": 0, "image_pixels": 0, "image_formats": [], "prompt_chars": 300,
        })
        if ok:
            rec.update({
                "server_latency_ms": lat * 0.9, "client_overhead_ms": lat * 0.1, "input_tokens": 80,
                "output_tokens": out_tok, "stop_reason": "end_turn",
                "response_text": "lorem ipsum " * 20, "expected": "lorem", "score": float(rng.random() < 0.7),
                "cost_usd": 1e-5 * out_tok, "aws_request_id": f"req-{i}",
            })
            rec["scores"] = {"exact": rec["score"]}
            if streamed:
                gaps = rng.exponential(lat * 0.6 / 20, 20).round(3).tolist()
                rec.update({"ttft_ms": lat * 0.4, "t_first_token_ms": float(t_sent[i]) + lat * 0.4,
                            "tpot_ms": lat * 0.6 / (out_tok - 1), "itl_ms": gaps, "delta_chars": [12] * 20})
        else:
            rec.update({"error_code": "ModelErrorException", "error_class": "transient",
                        "error_message": "synthetic failure", "scores": {}})
        writer.write(rec)
    writer.close()
    return run_dir.path


def child(n: int) -> dict[str, float]:
    from evals.render.report import render_run

    with tempfile.TemporaryDirectory() as tmp:
        run = write_synthetic_run(Path(tmp), n)
        size_mb = (run / "records.jsonl").stat().st_size / 1e6
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        report = render_run([run])
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        html_mb = report.stat().st_size / 1e6
    return {"records": n, "jsonl_mb": size_mb, "render_s": seconds, "peak_rss_mb": peak,
            "rss_before_render_mb": before, "report_mb": html_mb}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(child(int(argv[1]))))
        return 0
    sizes = [int(a) for a in argv] or [20_000, 200_000]
    print(f"{'records':>9} {'jsonl MB':>9} {'render s':>9} {'peak RSS MB':>12} {'report.html MB':>15}")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['records']:>9,} {r['jsonl_mb']:>9.1f} {r['render_s']:>9.1f} {r['peak_rss_mb']:>12.0f} "
              f"{r['report_mb']:>15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
