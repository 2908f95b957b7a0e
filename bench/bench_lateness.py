"""How late the emulator's writes begin, old server against new, HTTP/1.1 and HTTP/2, side by side.

Reads the admin `first_write_late_ms` (how long after its planned time each unary answer's, or each stream's
first token's, write began) under load at the cards' speeds: Converse answered after 500 ms, ConverseStream
with its first token at 320 ms then 8 tokens at 100/s, 32 concurrent clients whose starts are staggered over one
latency. Arms: the server at a reference commit (`--reference`, HTTP/1.1 only: it has no HTTP/2), the current
server over HTTP/1.1 (boto3) and over HTTP/2 (prior-knowledge h2c, one connection per client, SigV4 with
`:authority`). All emulators run at once and the arms alternate round by round, so machine noise hits them alike.

Usage: .venv/bin/python bench/bench_lateness.py [--reference a40fcf1] [--rounds 3] [--per-client 8]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config

from evals.emulator import EmulatorProcess
from evals.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests"))
from h2client import H2Client, json_body, model_path, signed_headers

MODEL = "us.meta.llama4-maverick-17b-instruct-v1:0"
STREAM_MODEL = "us.meta.llama3-3-70b-instruct-v1:0"
CONCURRENCY = 32
CASES = {
    "Converse 500 ms": ("converse", MODEL, {"fixed_latency_ms": 500.0}),
    "ConverseStream TTFT 320 ms, 8 tokens": ("converse-stream", STREAM_MODEL,
                                             {"fixed_latency_ms": 400.0, "fixed_ttft_ms": 320.0}),
}


class ReferenceEmulator(EmulatorProcess):
    """The emulator of an older checkout: options it did not know yet are left out of its config."""

    def config(self) -> dict[str, Any]:
        data = super().config()
        known = set(re.findall(r"^    (\w+): ", (self.source_root / "evals/emulator/options.py").read_text(), re.M))
        return {k: v for k, v in data.items() if k in known}


def export_reference(ref: str, into: Path) -> Path:
    """`git archive` the reference commit's package and configuration into `into`."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", ref, "evals", "conf"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def body(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": f"Question {i}: name a prime."}]}],
            "inferenceConfig": {"maxTokens": 8}, "requestMetadata": {"evals.target_output_tokens": "8"}}


def boto3_worker(emu: EmulatorProcess, op: str, model: str) -> Callable[[int, int], None]:
    c = emu.credentials
    client = boto3.session.Session(
        aws_access_key_id=c["access_key_id"], aws_secret_access_key=c["secret_access_key"], region_name="us-east-1",
    ).client("bedrock-runtime", endpoint_url=emu.region("us-east-1")["http"],
             config=Config(max_pool_connections=CONCURRENCY + 4, retries={"total_max_attempts": 1}))

    def run(k: int, n: int) -> None:
        for i in range(n):
            if op == "converse":
                client.converse(modelId=model, **body(k * 1000 + i))
            else:
                for _ in client.converse_stream(modelId=model, **body(k * 1000 + i))["stream"]:
                    pass
    return run


def h2_worker(emu: EmulatorProcess, op: str, model: str) -> Callable[[int, int], None]:
    endpoint = emu.region("us-east-1")["http"]
    path = model_path(model, op)

    def run(k: int, n: int) -> None:
        client = H2Client(endpoint)
        try:
            for i in range(n):
                data = json_body(body(k * 1000 + i))
                status, _, answer = client.request(path, data, signed_headers(endpoint, path, data, "us-east-1",
                                                                              emu.credentials))
                assert status == 200, answer[:200]
        finally:
            client.close()
    return run


def measure(emu: EmulatorProcess, run: Callable[[int, int], None], per_client: int, latency_s: float) -> dict:
    emu.reset()

    def staggered(k: int) -> None:
        time.sleep(k * latency_s / CONCURRENCY)
        run(k, per_client)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(staggered, range(CONCURRENCY)))
    return emu.stats()["first_write_late_ms"]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--reference", default="a40fcf1", help="commit of the old server (default: before h11/h2)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--per-client", type=int, default=8, help="requests per client per round and arm")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-lateness-") as tmp:
        old_root = export_reference(args.reference, Path(tmp))
        for label, (op, model, latency) in CASES.items():
            opts = {"latency_profile": "fixed", "seed": 1, "quota_scale": 10_000.0, **latency}
            with ReferenceEmulator(opts, source_root=old_root) as old, EmulatorProcess(opts) as new:
                arms = {f"reference {args.reference}, HTTP/1.1": boto3_worker(old, op, model),
                        "new, HTTP/1.1 (h11)": boto3_worker(new, op, model),
                        "new, HTTP/2 (h2)": h2_worker(new, op, model)}
                emus = {name: old if name.startswith("reference") else new for name in arms}
                rows: dict[str, list[dict]] = {name: [] for name in arms}
                for r in range(args.rounds):
                    order = list(arms) if r % 2 == 0 else list(reversed(arms))
                    for name in order:
                        rows[name].append(measure(emus[name], arms[name], args.per_client,
                                                  latency["fixed_latency_ms"] / 1000))
            print(f"\n## {label}: first_write_late_ms, {CONCURRENCY} clients x {args.per_client} requests "
                  f"x {args.rounds} rounds per arm (median over rounds of each round's p50 / p99 / max)")
            print("| arm | p50 | p99 | max | answers |")
            print("|---|---|---|---|---|")
            for name, stats in rows.items():
                p50, p99, mx = (float(np.median([s[k] for s in stats])) for k in ("p50", "p99", "max"))
                print(f"| {name} | {p50:.3f} ms | {p99:.3f} ms | {mx:.3f} ms | {sum(s['n'] for s in stats)} |")
            print("raw rounds: " + json.dumps({k: [round(s["p99"], 3) for s in v] for k, v in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
