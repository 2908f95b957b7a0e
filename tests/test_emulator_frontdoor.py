"""The emulator's front door: HTTP/1.1 framing (chunked, Date), HTTP/2 (h2c and ALPN), limits, auth, admin."""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.eventstream import EventStreamBuffer
from conftest import LLAMA33, MAVERICK
from h2client import H2Client, json_body, model_path, signed_headers

from evals.emulator import Emulator
from evals.emulator.process import admin_headers

LIMITS = {"header_timeout_s": 0.4, "body_timeout_s": 0.4, "idle_timeout_s": 3.0, "max_connections": 64,
          "max_body_bytes": 4096}


@pytest.fixture(scope="module")
def guarded() -> Iterator[Emulator]:
    """An emulator with short read deadlines, a small connection cap and a small body limit."""
    with Emulator({"latency_profile": "zero", "seed": 7, "limits": LIMITS}) as emu:
        yield emu


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def _signed(emu: Emulator, path: str, body: bytes, extra: dict[str, str] | None = None) -> dict[str, str]:
    region = emu.endpoints["regions"]["us-east-1"]
    return signed_headers(region["http"], path, body, "us-east-1", emu.credentials, extra, http2=False)


def _connect(emu: Emulator) -> socket.socket:
    parts = urlsplit(emu.endpoints["regions"]["us-east-1"]["http"])
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one Content-Length HTTP/1.1 response off a raw socket."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest[:length]


def _h1(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items() if k != ":authority")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunked(body: bytes, size: int = 7) -> bytes:
    parts = [b"%x\r\n%b\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_chunked_request_body_then_keep_alive(emulator):
    """A chunked body is read whole (signature checks out) and the connection serves the next request."""
    path = model_path(LLAMA33, "converse")
    body = json_body({"messages": user("chunked body"), "inferenceConfig": {"maxTokens": 5}})
    sock = _connect(emulator)
    try:
        for _ in range(2):
            headers = {**_signed(emulator, path, body), "Transfer-Encoding": "chunked"}
            sock.sendall(_h1("POST", path, headers) + _chunked(body))
            status, out, payload = _read_response(sock)
            assert status == 200, payload
            assert json.loads(payload)["usage"]["outputTokens"] <= 5
            assert out["date"].endswith(" GMT")
    finally:
        sock.close()


def test_date_header_on_answers_and_errors(make_client):
    client = make_client("us-east-1")
    meta = client.converse(modelId=LLAMA33, messages=user("x"))["ResponseMetadata"]
    assert meta["HTTPHeaders"]["date"].endswith(" GMT")
    with pytest.raises(client.exceptions.ValidationException) as err:
        client.converse(modelId="nope", messages=user("x"))
    assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["date"].endswith(" GMT")


def test_invoke_and_converse_echo_the_serving_tier(make_client):
    client = make_client("us-east-1")
    resp = client.invoke_model(modelId=LLAMA33, body=b'{"prompt":"x","max_gen_len":3}')
    assert (resp["serviceTier"], resp["performanceConfigLatency"]) == ("default", "standard")
    resp = client.converse(modelId=LLAMA33, messages=user("x"))
    assert resp["serviceTier"] == {"type": "default"} and resp["performanceConfig"] == {"latency": "standard"}
    stream = client.invoke_model_with_response_stream(modelId=LLAMA33, body=b'{"prompt":"x","max_gen_len":3}')
    assert stream["serviceTier"] == "default"
    metadata = [e["metadata"] for e in client.converse_stream(modelId=LLAMA33, messages=user("x"))["stream"]
                if "metadata" in e]
    assert metadata[0]["serviceTier"] == {"type": "default"}


def test_unsigned_payload_refused_on_plain_http(emulator):
    path = model_path(LLAMA33, "converse")
    body = json_body({"messages": user("x")})
    headers = _signed(emulator, path, b"", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    sock = _connect(emulator)
    try:
        sock.sendall(_h1("POST", path, {**headers, "Content-Length": str(len(body))}) + body)
        status, out, payload = _read_response(sock)
    finally:
        sock.close()
    assert status == 403 and out["x-amzn-errortype"].startswith("InvalidSignatureException")
    assert b"UNSIGNED-PAYLOAD" in payload


def test_admin_needs_the_token(emulator):
    admin = emulator.endpoints["admin"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(admin + "/reset", method="POST", data=b""), timeout=5)
    assert err.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(admin + "/stats", headers={"Authorization": "Bearer x"}),
                               timeout=5)
    assert err.value.code == 401
    ok = urllib.request.Request(admin + "/stats", headers=admin_headers(emulator.endpoints))
    with urllib.request.urlopen(ok, timeout=5) as resp:
        assert "total_requests" in json.loads(resp.read())
    with urllib.request.urlopen(admin + "/health", timeout=5) as resp:
        assert json.loads(resp.read()) == {"ok": True}


def _converse_h2(client: H2Client, endpoint: str, emu: Emulator, op: str = "converse",
                 model: str = LLAMA33, bearer: bool = False) -> tuple[int, dict[str, str], bytes]:
    path = model_path(model, op)
    body = json_body({"messages": user("over h2"), "requestMetadata": {"evals.target_output_tokens": "4"}})
    if bearer:
        headers = {"content-type": "application/json", "authorization": f"Bearer {emu.credentials['api_key']}"}
    else:
        headers = signed_headers(endpoint, path, body, "us-east-1", emu.credentials)
    return client.request(path, body, headers)


def test_http2_prior_knowledge_with_sigv4_authority(emulator):
    """h2c on the plain listener; SigV4 with `:authority` signed; several requests on one connection."""
    endpoint = emulator.endpoints["regions"]["us-east-1"]["http"]
    client = H2Client(endpoint)
    try:
        status, headers, body = _converse_h2(client, endpoint, emulator)
        assert status == 200, body
        assert headers["date"].endswith(" GMT") and int(headers["content-length"]) == len(body)
        assert json.loads(body)["usage"]["outputTokens"] == 4
        status, headers, body = _converse_h2(client, endpoint, emulator, op="converse-stream")
        assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
        buf = EventStreamBuffer()
        buf.add_data(body)
        kinds = [m.headers[":event-type"] for m in buf]
        assert kinds == ["messageStart", *["contentBlockDelta"] * 4, "contentBlockStop", "messageStop", "metadata"]
        status, _, body = _converse_h2(client, endpoint, emulator, op="converse-stream", model=MAVERICK)
        assert status == 400 and b"streaming" in body
    finally:
        client.close()


def test_http2_alpn_over_tls_with_bearer(emulator):
    region = emulator.endpoints["regions"]["us-east-1"]
    client = H2Client(region["https"], ca_file=region["ca_file"])
    try:
        status, headers, body = _converse_h2(client, region["https"], emulator, bearer=True)
        assert status == 200, body
        assert headers["x-amzn-requestid"] and json.loads(body)["serviceTier"] == {"type": "default"}
    finally:
        client.close()


def test_body_over_the_limit_is_413(guarded):
    path = model_path(LLAMA33, "converse")
    big = json_body({"messages": user("x" * 5000)})
    sock = _connect(guarded)
    try:  # declared too long: refused before the body is read
        sock.sendall(_h1("POST", path, {**_signed(guarded, path, big), "Content-Length": str(len(big))}))
        status, out, payload = _read_response(sock)
        assert status == 413 and b"4096-byte limit" in payload and out["connection"] == "close"
    finally:
        sock.close()
    sock = _connect(guarded)
    try:  # chunked: refused once the chunks pass the limit
        sock.sendall(_h1("POST", path, {**_signed(guarded, path, big), "Transfer-Encoding": "chunked"})
                     + _chunked(big, 1000))
        assert _read_response(sock)[0] == 413
    finally:
        sock.close()
    endpoint = guarded.endpoints["regions"]["us-east-1"]["http"]
    client = H2Client(endpoint)
    try:
        assert client.request(path, big, signed_headers(endpoint, path, big, "us-east-1", guarded.credentials))[0] \
            == 413
    finally:
        client.close()


def test_read_deadlines_answer_408_and_close(guarded):
    path = model_path(LLAMA33, "converse")
    sock = _connect(guarded)
    try:  # headers never finished
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode())
        status, _, _payload = _read_response(sock)
        assert status == 408 and sock.recv(10) == b""
    finally:
        sock.close()
    sock = _connect(guarded)
    try:  # a Content-Length longer than the body
        sock.sendall(_h1("POST", path, {"Host": "x", "Content-Length": "100"}) + b"{}")
        assert _read_response(sock)[0] == 408 and sock.recv(10) == b""
    finally:
        sock.close()


def _normal_ms(emu: Emulator, n: int = 7) -> float:
    """Median wall time of a fresh-connection Converse (what a new client sees)."""
    path = model_path(LLAMA33, "converse")
    body = json_body({"messages": user("normal"), "inferenceConfig": {"maxTokens": 4}})
    times = []
    for _ in range(n):
        t = time.perf_counter()
        sock = _connect(emu)
        try:
            sock.sendall(_h1("POST", path, {**_signed(emu, path, body), "Content-Length": str(len(body))}) + body)
            assert _read_response(sock)[0] == 200
        finally:
            sock.close()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


@pytest.mark.serial
def test_slowloris_and_half_open_do_not_stall_normal_requests(guarded):
    """40 slowloris connections, 200 half-open ones (past the cap of 64): a normal request still goes through
    within 50 ms of its unabused time, and the abusers are cut off by the deadlines and the cap."""
    base = _normal_ms(guarded)
    half_open = [_connect(guarded) for _ in range(200)]
    slow = [_connect(guarded) for _ in range(40)]
    try:
        for s in slow:
            s.sendall(b"POST /model/x/converse HTTP/1.1\r\n")
        abused = []
        for _ in range(4):  # bounded: a few rounds of dribbling, a normal request in each
            for s in slow:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-a: b\r\n")
            abused.append(_normal_ms(guarded, n=3))
        assert max(abused) < base + 50, (base, abused)
        cut = 0
        for s in slow:  # all slowloris connections are answered 408 and closed by the header deadline
            s.settimeout(5)
            try:
                cut += _read_response(s)[0] == 408
            except OSError:
                cut += 1
        assert cut == len(slow)
    finally:
        for s in half_open + slow:
            s.close()
    assert _normal_ms(guarded, n=3) < base + 50
