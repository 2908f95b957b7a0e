"""Benchmark the emulator itself (zero latency profile): is it ever the bottleneck of a measurement?

Prints: sequential boto3 Converse round trip p50/p99 and requests/s, the same against a canned-response raw
socket server (the floor set by boto3 itself) and against the server of a reference commit (`--reference`, run
at the same time from a `git archive` of that commit), the same over HTTP/2 (one h2c connection), throughput
with N concurrent clients, many concurrent ConverseStreams completing, and then bench_lateness.py's write
lateness at the cards' speeds, old server against new over both protocols.
Usage: .venv/bin/python bench/bench_emulator.py [--quick] [--reference a40fcf1] [--no-lateness]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from bench_lateness import ReferenceEmulator, export_reference
from bench_lateness import main as lateness_main
from botocore.config import Config
from h2client import H2Client, json_body, model_path, signed_headers

from evals.emulator import Emulator

MODEL = "us.meta.llama4-maverick-17b-instruct-v1:0"
STREAM_MODEL = "us.meta.llama3-3-70b-instruct-v1:0"
CANNED_BODY = (b'{"output":{"message":{"role":"assistant","content":[{"text":"canned"}]}},"stopReason":"end_turn",'
               b'"usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":0}}')


def _canned_server(port_out: Any) -> None:
    """Minimal keep-alive HTTP server answering every request with one fixed Converse response (one send)."""
    response = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (
        len(CANNED_BODY), CANNED_BODY)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port_out.put(srv.getsockname()[1])

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                if len(rest) < length:
                    break
                buf = rest[length:]
                conn.sendall(response)

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def client(endpoint: str, region: str, creds: dict[str, str]) -> Any:
    return boto3.session.Session().client(
        "bedrock-runtime", region_name=region, endpoint_url=endpoint,
        aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
        config=Config(signature_version="v4", retries={"total_max_attempts": 1}, max_pool_connections=256),
    )


def messages(i: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": f"Benchmark question number {i}: name a prime."}]}]


def sequential(c: Any, n: int) -> dict[str, float]:
    for i in range(50):
        c.converse(modelId=MODEL, messages=messages(i), inferenceConfig={"maxTokens": 64})
    samples = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        c.converse(modelId=MODEL, messages=messages(i), inferenceConfig={"maxTokens": 64})
        samples.append(time.perf_counter() - t)
    total = time.perf_counter() - started
    samples.sort()
    return {"p50_ms": samples[n // 2] * 1000, "p99_ms": samples[int(n * 0.99)] * 1000, "rps": n / total}


def sequential_h2(endpoint: str, creds: dict[str, str], n: int) -> dict[str, float]:
    """The same Converse loop over one prior-knowledge HTTP/2 connection (SigV4 signed by botocore)."""
    client = H2Client(endpoint)
    path = model_path(MODEL, "converse")
    samples = []
    try:
        started = time.perf_counter()
        for i in range(n + 50):
            data = json_body({"messages": messages(i), "inferenceConfig": {"maxTokens": 64}})
            headers = signed_headers(endpoint, path, data, "us-east-1", creds)
            t = time.perf_counter()
            status, _, _ = client.request(path, data, headers)
            assert status == 200
            if i == 49:
                started = time.perf_counter()
            elif i > 49:
                samples.append(time.perf_counter() - t)
        total = time.perf_counter() - started
    finally:
        client.close()
    samples.sort()
    return {"p50_ms": samples[n // 2] * 1000, "p99_ms": samples[int(n * 0.99)] * 1000, "rps": n / total}


def concurrent(make: Any, workers: int, per_worker: int) -> float:
    clients = [make() for _ in range(workers)]

    def work(w: int) -> None:
        for i in range(per_worker):
            clients[w].converse(modelId=MODEL, messages=messages(w * 100_000 + i), inferenceConfig={"maxTokens": 64})

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    return workers * per_worker / (time.perf_counter() - started)


def streams(c: Any, n: int, tokens: int) -> dict[str, float]:
    def one(i: int) -> int:
        resp = c.converse_stream(modelId=STREAM_MODEL, messages=messages(i),
                                 requestMetadata={"evals.target_output_tokens": str(tokens)})
        return sum(1 for e in resp["stream"] if "contentBlockDelta" in e)

    started = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        counts = list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - started
    return {"completed": sum(1 for x in counts if x == tokens), "seconds": elapsed,
            "deltas_per_s": sum(counts) / elapsed}


def _row(label: str, r: dict[str, float], cpu_ms: float) -> str:
    return (f"{label:<38} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  {r['rps']:.0f} req/s  "
            f"emulator CPU {cpu_ms * 1000:.0f} us/request")


def cpu_s(emu: Emulator) -> float:
    """User + system CPU the emulator process has used (less sensitive to a shared machine than wall time)."""
    assert emu.proc is not None
    fields = Path(f"/proc/{emu.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(emu: Emulator, run: Any, n: int) -> tuple[dict[str, float], float]:
    """Run a sequential loop of n requests; its figures and the emulator's CPU ms per request."""
    before = cpu_s(emu)
    result = run()
    return result, (cpu_s(emu) - before) / (n + 50) * 1000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reference", default="a40fcf1", help="commit whose server is measured beside this one")
    parser.add_argument("--no-lateness", action="store_true", help="skip the write-lateness comparison")
    args = parser.parse_args(argv)
    n = 500 if args.quick else 2000
    queue: Any = multiprocessing.Queue()
    canned = multiprocessing.Process(target=_canned_server, args=(queue,), daemon=True)
    canned.start()
    canned_url = f"http://127.0.0.1:{queue.get(timeout=10)}"
    fake = {"access_key_id": "AKIDBENCH", "secret_access_key": "bench"}
    options = {"latency_profile": "zero", "seed": 1, "quota_scale": 1e6}
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp, \
            ReferenceEmulator(options, source_root=export_reference(args.reference, Path(tmp))) as old, \
            Emulator(options) as emu:
        region = emu.endpoints["regions"]["us-east-1"]
        old_region = old.endpoints["regions"]["us-east-1"]
        creds = emu.credentials
        for round_ in range(2):  # alternate the order: the machine's noise hits both servers alike
            arms = [("emulator, HTTP/1.1 (h11)", region["http"], creds),
                    (f"reference {args.reference}, HTTP/1.1", old_region["http"], old.credentials)]
            for label, url, cr in arms if round_ == 0 else reversed(arms):
                server = old if label.startswith("reference") else emu
                figures, cpu = timed(server, lambda url=url, cr=cr: sequential(client(url, "us-east-1", cr), n // 2),
                                     n // 2)
                print(_row(f"sequential Converse, {label}", figures, cpu))
            figures, cpu = timed(emu, lambda: sequential_h2(region["http"], creds, n // 2), n // 2)
            print(_row("sequential Converse, emulator, HTTP/2 (h2)", figures, cpu))
        raw = sequential(client(canned_url, "us-east-1", fake), n // 2)
        print(f"{'  canned raw-socket baseline':<38} p50 {raw['p50_ms']:.3f} ms  p99 {raw['p99_ms']:.3f} ms  "
              f"{raw['rps']:.0f} req/s")
        stats = emu.stats()
        print(f"  emulator server-side mean      {stats['server_us_mean']:.0f} us per request "
              f"(reference {old.stats()['server_us_mean']:.0f} us)")
        for workers in (1, 8, 32):
            per = max(20, (n // 4) // workers)
            emu_rps = concurrent(lambda: client(region["http"], "us-east-1", creds), workers, per)
            old_rps = concurrent(lambda: client(old_region["http"], "us-east-1", old.credentials), workers, per)
            raw_rps = concurrent(lambda: client(canned_url, "us-east-1", fake), workers, per)
            print(f"concurrency {workers:>3}: emulator {emu_rps:7.0f} req/s   reference {old_rps:7.0f} req/s   "
                  f"canned baseline {raw_rps:7.0f} req/s")
        shared = client(region["http"], "us-east-1", creds)
        for count in (50, 200):
            s = streams(shared, count, 50)
            print(f"{count} concurrent ConverseStreams x 50 deltas: {s['completed']}/{count} complete in "
                  f"{s['seconds']:.2f} s ({s['deltas_per_s']:.0f} deltas/s)")
    canned.terminate()
    if not args.no_lateness:
        lateness_main(["--reference", args.reference, "--rounds", "2" if args.quick else "4"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
