"""The emulator's sockets: one HTTPS and one HTTP listener per region plus a loopback admin listener.

Thread per connection (ThreadingMixIn), HTTP/1.1 keep-alive, TCP_NODELAY and one send per response, so a
zero-latency round trip stays far below a millisecond. Routing is on the raw path; the model id is unquoted once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import shutil
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from evals.cards import ModelCard, card_from_mapping, load_cards
from evals.emulator import control_plane, responses
from evals.emulator.auth import Secrets, authenticate
from evals.emulator.engines import Engine, Generation
from evals.emulator.eventstream import exception_frame
from evals.emulator.faults import MIDSTREAM_MESSAGE, MIDSTREAM_TYPE, NO_FAULTS, FaultInjector, FaultPlan
from evals.emulator.latency import LatencyModel, Plan
from evals.emulator.options import EmulatorOptions
from evals.emulator.quotas import QuotaBook
from evals.emulator.routing import resolve
from evals.emulator.stats import Stats
from evals.emulator.tls import TlsFiles, make_tls_files
from evals.emulator.validation import (
    GenRequest,
    converse_request,
    count_tokens_request,
    invalid,
    invoke_request,
    parse_json,
)
from evals.emulator.wire import BedrockError, error_headers, json_bytes, request_id, response_head
from evals.errors import UserInputError
from evals.paths import MODEL_CARD_DIR

OPERATIONS = {
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "count-tokens": "CountTokens",
}
STREAMING_OPS = ("InvokeModelWithResponseStream", "ConverseStream")
_PATH = re.compile(r"/model/([^/?]+)/([a-z-]+)")
UNKNOWN_OPERATION = "UnknownOperationException"


# A sleeping thread wakes 0.1-0.3 ms late on an idle (virtual) CPU; the last stretch before a deadline is
# spent yielding instead, by at most a few threads at once so a busy emulator does not burn its cores.
SPIN_S = 0.0005
MAX_SPINNERS = 2
_spinners = threading.BoundedSemaphore(MAX_SPINNERS)


def sleep_until(deadline: float) -> None:
    """Wait to an absolute perf_counter deadline (no drift across many small waits)."""
    while (left := deadline - time.perf_counter()) > SPIN_S:
        time.sleep(left - SPIN_S)
    if left <= 0:
        return
    if not _spinners.acquire(blocking=False):
        while (left := deadline - time.perf_counter()) > 0:
            time.sleep(left)
        return
    try:
        while time.perf_counter() < deadline:
            time.sleep(0)  # releases the interpreter lock: other answers still go out
    finally:
        _spinners.release()


class ResetConnection(Exception):
    """Raised to drop the connection with an RST (connection_reset fault)."""


@dataclass
class App:
    """State shared by all listeners."""

    options: EmulatorOptions
    cards: dict[str, ModelCard]
    secrets: Secrets
    engine: Engine
    latency: LatencyModel
    quotas: QuotaBook
    faults: FaultInjector
    stats: Stats = field(default_factory=Stats)

    @classmethod
    def build(cls, options: EmulatorOptions) -> App:
        creds = options.credentials
        secrets_ = Secrets(
            access_key_id=creds.access_key_id or "AKIAEMU" + secrets.token_hex(6).upper(),
            secret_access_key=creds.secret_access_key or secrets.token_urlsafe(30),
            api_key=creds.api_key or "bedrock-api-key-" + secrets.token_urlsafe(32),
        )
        card_dir = options.model_card_dir() or MODEL_CARD_DIR
        cards = load_cards(card_dir)
        cards.update((card.name, card) for card in (card_from_mapping(c, "emulator cards") for c in options.cards))
        if not cards:
            raise UserInputError(f"card_dir: no model cards (*.yaml) in {card_dir}")
        return cls(
            options=options,
            cards=cards,
            secrets=secrets_,
            engine=Engine(options.engine, options.seed, options.oracle_accuracy),
            latency=LatencyModel(options),
            quotas=QuotaBook(options.quota_scale, options.quotas, options.retry_after_ms),
            faults=FaultInjector(options.faults, options.seed, options.retry_after_ms),
        )

    def reset(self) -> None:
        self.stats.reset()
        self.quotas.reset()


class Exchange:
    """One request/response on a connection: raw writes, chunked streaming, resets."""

    def __init__(self, handler: Handler, rid: str) -> None:
        self.h = handler
        self.rid = rid
        self.started = False

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes, reset: bool = False) -> None:
        head = response_head(status, [*headers, ("Content-Length", str(len(body)))])
        self.started = True
        if reset:
            self.h.wfile.write(head + body[: len(body) // 2])
            raise ResetConnection
        self.h.wfile.write(head + body)

    def error(self, err: BedrockError) -> None:
        self.send(err.status, error_headers(err, self.rid), err.body())

    def start_stream(self, headers: list[tuple[str, str]]) -> None:
        self.h.wfile.write(response_head(200, [*headers, ("Transfer-Encoding", "chunked")]))
        self.started = True

    def chunk(self, data: bytes) -> None:
        if data:
            self.h.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_stream(self) -> None:
        self.h.wfile.write(b"0\r\n\r\n")


class Handler(socketserver.StreamRequestHandler):
    """Lean HTTP/1.1 keep-alive handler.

    Hand-written because http.server's email-based header parsing costs more per request than all the
    emulator's own work; Bedrock clients only send simple Content-Length requests.
    """

    server: Listener
    rbufsize = 65536

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.ssl_context is not None:
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            try:
                if not self._read_request():
                    return
            except (OSError, ValueError, UnicodeDecodeError):
                return
            self.server.app_handle(self)

    def _read_request(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        self.t_arrival = time.perf_counter()  # the server's latency window opens when the request arrives
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            return False
        self.command, self.path, version = parts
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True


class _QuietServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's getfqdn (a DNS lookup)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects and TLS handshake failures are normal here; stay quiet."""


class Listener(_QuietServer):
    def __init__(self, host: str, region: str, scheme: str, app: App,
                 ssl_context: ssl.SSLContext | None) -> None:
        self.region = region
        self.scheme = scheme
        self.app = app
        self.ssl_context = ssl_context
        super().__init__((host, 0), Handler)

    def app_handle(self, h: Handler) -> None:
        serve_request(self.app, h, self.region, self.scheme)


def _read_body(h: Any) -> bytes:
    length = int(h.headers.get("content-length") or h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


def serve_request(app: App, h: Handler, region: str, scheme: str) -> None:
    """Route, authenticate, validate, throttle, fault, generate and answer one request.

    Injected delays are deadlines from the request's arrival, so the emulator's own parsing, signature
    checking and generation happen inside them instead of being added on top.
    """
    t_start = getattr(h, "t_arrival", None) or time.perf_counter()
    rid = request_id()
    ex = Exchange(h, rid)
    try:
        body = _read_body(h)
    except (OSError, ValueError):
        h.close_connection = True
        return
    if control_plane.is_control_plane(h.path):  # the `bedrock` service's calls (doctor), served from the cards
        reply = control_plane.serve(app.cards, app.secrets, h.command, h.path, h.headers, body, region=region,
                                    scheme=scheme, rid=rid)
        ex.send(reply.status, reply.headers, reply.body)
        return
    raw_path = h.path.split("?", 1)[0]
    match = _PATH.fullmatch(raw_path)
    op = OPERATIONS.get(match.group(2)) if match else None
    headers = h.headers
    n = app.stats.count_request(op or "Unknown", region, headers.get("amz-sdk-request"))
    network_s = app.latency.network_s(region)
    if network_s:
        sleep_until(t_start + network_s)
    t0 = t_start + network_s
    waited = network_s
    reserved: tuple[ModelCard, int] | None = None
    status, code, kind = 200, None, None
    faults: FaultPlan = NO_FAULTS
    try:
        try:
            mode = authenticate(h.command, raw_path, headers, body, scheme=scheme, region=region,
                                secrets=app.secrets)
            app.stats.count_auth(mode)
            if h.command != "POST" or op is None:
                raise BedrockError(UNKNOWN_OPERATION, UNKNOWN_OPERATION, kind="routing")
            assert match is not None
            route = resolve(app.cards, unquote(match.group(1)), region)
            card = route.card
            if op in STREAMING_OPS and not card.streaming:
                raise invalid("streaming")
            if op == "CountTokens":
                if card.model_id in app.options.count_tokens_unsupported or \
                        card.emulator.get("count_tokens", 1.0) == 0.0:
                    raise invalid("count_tokens")
                tokens = count_tokens_request(card, parse_json(body))
                ex.send(200, [("Content-Type", "application/json"), ("x-amzn-RequestId", rid)],
                        json_bytes({"inputTokens": tokens}))
                return
            if op in ("Converse", "ConverseStream"):
                req = converse_request(card, parse_json(body))
            else:
                req = invoke_request(card, body, headers)
            faults = app.faults.draw(n, op in STREAMING_OPS)
            if faults.names():
                app.stats.count_faults(faults.names())
            if faults.error is not None:
                raise faults.error
            reserve = req.input_tokens + (req.max_tokens or card.max_output_tokens)
            app.quotas.reserve(region, card, reserve)
            reserved = (card, reserve)
        except BedrockError as err:
            status, code, kind = err.status, err.code, err.kind
            ex.error(err)
            return
        gen = app.engine.generate(card, req)
        rng = random.Random((int(req.canonical[24:48], 16) ^ app.options.seed) * 1_000_003 + n)
        destination = rng.choice(route.destinations)
        plan = app.latency.plan(card, region, destination, req.input_tokens,
                                sum(i.megapixels for i in req.images), gen.output_tokens, rng,
                                streaming=op in STREAMING_OPS)
        waited += plan.server_total_s + faults.stall_s + faults.trickle_s * gen.output_tokens
        if faults.stall_s:
            time.sleep(faults.stall_s)
        if op in STREAMING_OPS:
            late_s = _stream(ex, op, req, gen, plan, faults, t0, rng)
        else:
            late_s = _unary(ex, op, req, gen, plan, faults, t0)
        if late_s is not None and not (faults.stall_s or faults.trickle_s):
            app.stats.count_lateness(late_s)
        reserved = (card, reserve - req.input_tokens - gen.output_tokens)  # give back the unused part
    except ResetConnection:
        status = 0
        _reset(h)
    except (OSError, ssl.SSLError):
        status = 0
        h.close_connection = True
    except Exception:  # a bug: answer like Bedrock's 500 and keep serving; the traceback goes to stderr
        traceback.print_exc()
        status, code, kind = 500, "InternalServerException", "bug"
        h.close_connection = True
        if not ex.started:
            with contextlib.suppress(OSError):
                ex.error(BedrockError("InternalServerException", "The emulator failed to process the request."))
    finally:
        if reserved is not None and status == 200:
            app.quotas.release(region, reserved[0], reserved[1])
        app.stats.count_result(status, code, kind, max(0.0, time.perf_counter() - t_start - waited))


def _reset(h: Handler) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0) after a partial response."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw = h.connection.detach() if isinstance(h.connection, ssl.SSLSocket) else None
        if raw is not None:
            socket.socket(fileno=raw).close()
        else:
            h.connection.close()
    except OSError:
        pass


def _unary(ex: Exchange, op: str, req: GenRequest, gen: Generation, plan: Plan, faults: FaultPlan,
           t0: float) -> float:
    """Answer at the planned time; returns how late the write began (seconds past the deadline).

    The answer is built before the wait, so the write starts as the deadline passes; its reported latency is
    the planned server time, or the time already spent if that is longer (the admin stats say how late the
    write really was).
    """
    due = t0 + plan.server_total_s
    latency_ms = round((max(time.perf_counter(), due) - t0) * 1000)
    if op == "Converse":
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", ex.rid)]
        body = json_bytes(responses.converse(req, gen, latency_ms))
    else:
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", ex.rid),
            ("X-Amzn-Bedrock-Invocation-Latency", str(latency_ms)),
            ("X-Amzn-Bedrock-Output-Token-Count", str(gen.output_tokens)),
            ("X-Amzn-Bedrock-Input-Token-Count", str(req.input_tokens)),
        ]
        body = json_bytes(responses.invoke(req, gen, ex.rid))
    sleep_until(due)
    late_s = time.perf_counter() - due
    ex.send(200, headers, body, reset=faults.connection_reset)
    return late_s


def _stream(ex: Exchange, op: str, req: GenRequest, gen: Generation, plan: Plan, faults: FaultPlan,
            t0: float, rng: random.Random) -> float | None:
    """Send the event stream, each token at its planned time; frames due together go in one write.

    Returns how late the write of the first token began (seconds past its deadline), None if the stream was cut.
    """
    headers = [("Content-Type", "application/vnd.amazon.eventstream"), ("x-amzn-RequestId", ex.rid)]
    if op == "InvokeModelWithResponseStream":
        headers.append(("X-Amzn-Bedrock-Content-Type", "application/json"))
    pieces = gen.pieces() or [""]
    gaps = plan.gaps_s
    due = [t0 + plan.first_token_s]
    for i in range(1, len(pieces)):
        due.append(due[-1] + (gaps[i - 1] if i - 1 < len(gaps) else 0.0) + faults.trickle_s)
    cut = len(pieces) // 2 if (faults.midstream_exception or faults.connection_reset) else None
    ex.start_stream(headers)
    pending = bytearray(responses.converse_start(rng.randrange(64))) if op == "ConverseStream" else bytearray()
    first_byte_ms: int | None = None
    first_late_s: float | None = None
    for i, piece in enumerate(pieces):
        if cut is not None and i == cut:
            ex.chunk(bytes(pending))
            if faults.connection_reset:
                raise ResetConnection
            ex.chunk(exception_frame(MIDSTREAM_TYPE, MIDSTREAM_MESSAGE))
            ex.end_stream()
            return None
        if due[i] > time.perf_counter():
            if i > 0 and first_late_s is None:  # the first token goes out in this write
                first_late_s = time.perf_counter() - due[0]
            ex.chunk(bytes(pending))
            pending.clear()
            sleep_until(due[i])
        if first_byte_ms is None:
            first_byte_ms = round((time.perf_counter() - t0) * 1000)
        last = i == len(pieces) - 1
        if op == "ConverseStream":
            pending += responses.converse_delta(piece, rng.randrange(64))
        else:
            metrics = None
            if last:
                total_ms = round((time.perf_counter() - t0) * 1000)
                metrics = {"inputTokenCount": req.input_tokens, "outputTokenCount": gen.output_tokens,
                           "invocationLatency": total_ms, "firstByteLatency": first_byte_ms}
            pending += responses.invoke_chunk(req, ex.rid, i, piece, last, gen, metrics, rng.randrange(64))
    if op == "ConverseStream":
        latency_ms = round((time.perf_counter() - t0) * 1000)
        pending += responses.converse_end(req, gen, latency_ms, rng.randrange(64))
    if first_late_s is None:  # the first token goes out with later ones, in this last write
        first_late_s = time.perf_counter() - due[0]
    ex.chunk(bytes(pending))
    ex.end_stream()
    return first_late_s


class AdminHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: AdminServer

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.wfile.write(response_head(status, [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))]) + body)

    def do_GET(self) -> None:
        _read_body(self)
        if self.path == "/stats":
            self._send(200, self.server.app.stats.snapshot())
        elif self.path == "/health":
            self._send(200, {"ok": True})
        else:
            self._send(404, {"message": "not found"})

    def do_POST(self) -> None:
        _read_body(self)
        if self.path == "/reset":
            self.server.app.reset()
            self._send(200, {"ok": True})
        else:
            self._send(404, {"message": "not found"})

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class AdminServer(_QuietServer):
    def __init__(self, host: str, app: App) -> None:
        self.app = app
        super().__init__((host, 0), AdminHandler)


class EmulatorServer:
    """All listeners of one emulator, started in threads; `endpoints()` describes them."""

    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.app = App.build(options)
        self.workdir = Path(tempfile.mkdtemp(prefix="bedrock-emulator-"))
        self.tls: TlsFiles = make_tls_files(self.workdir / "tls", options.host)
        ctx = self.tls.server_context()
        self.listeners: dict[str, dict[str, Listener]] = {}
        for region in options.regions:
            self.listeners[region] = {
                "https": Listener(options.host, region, "https", self.app, ctx),
                "http": Listener(options.host, region, "http", self.app, None),
            }
        self.admin = AdminServer("127.0.0.1", self.app)
        self._threads: list[threading.Thread] = []

    def _url(self, scheme: str, server: _QuietServer) -> str:
        host = self.options.host if self.options.host not in ("0.0.0.0", "", "::") else "127.0.0.1"
        return f"{scheme}://{host}:{server.server_port}"

    def start(self) -> None:
        servers: list[_QuietServer] = [self.admin]
        for pair in self.listeners.values():
            servers += list(pair.values())
        for srv in servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        servers: list[_QuietServer] = [self.admin]
        for pair in self.listeners.values():
            servers += list(pair.values())
        stoppers = [threading.Thread(target=srv.shutdown) for srv in servers]  # in parallel: each waits a poll
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        for srv in servers:
            srv.server_close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def endpoints(self) -> dict[str, Any]:
        """The endpoints document (holds credentials: write it 0600, never print it)."""
        o = self.options
        return {
            "regions": {
                region: {
                    "https": self._url("https", pair["https"]),
                    "http": self._url("http", pair["http"]),
                    "ca_file": str(self.tls.ca_file),
                }
                for region, pair in self.listeners.items()
            },
            "ca_file": str(self.tls.ca_file),
            "credentials": {
                "access_key_id": self.app.secrets.access_key_id,
                "secret_access_key": self.app.secrets.secret_access_key,
                "api_key": self.app.secrets.api_key,
            },
            "pid": os.getpid(),
            "engine": o.engine,
            "latency_profile": o.latency_profile,
            "latency_scale": o.latency_scale,
            "seed": o.seed,
            "admin": f"http://127.0.0.1:{self.admin.server_port}",
        }

    def write_endpoints(self, path: Path) -> None:
        """Atomically write the endpoints file (tmp + os.replace, mode 0600)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.endpoints(), fh, indent=2)
        os.replace(tmp, path)
