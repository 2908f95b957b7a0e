"""The bedrock-runtime operations: route, authenticate, validate, throttle, fault, generate and answer.

`dispatch` is the one entry point: it takes a parsed `Request` (whatever protocol carried it) and answers
through a `Responder`. Injected delays are deadlines from the request's arrival, so the emulator's own parsing,
signature checking and generation happen inside them instead of being added on top.
"""

from __future__ import annotations

import contextlib
import random
import re
import ssl
import time
import traceback
from dataclasses import dataclass
from urllib.parse import unquote

from evals.cards import ModelCard
from evals.emulator import control_plane, responses
from evals.emulator.app import App
from evals.emulator.auth import authenticate
from evals.emulator.clock import sleep_until
from evals.emulator.engines import Generation
from evals.emulator.eventstream import exception_frame
from evals.emulator.exchange import Headers, Request, ResetConnection, Responder
from evals.emulator.faults import MIDSTREAM_MESSAGE, MIDSTREAM_TYPE, FaultPlan
from evals.emulator.latency import Plan
from evals.emulator.request_bodies import converse_request, count_tokens_request, invoke_request
from evals.emulator.routing import Route, resolve, resolve_count_tokens
from evals.emulator.validation import GenRequest, invalid, parse_json
from evals.emulator.wire import BedrockError, error_headers, json_bytes, request_id

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
DEFAULT_TIER = "default"  # what serves a request that names no service tier
DEFAULT_LATENCY = "standard"  # ... and no performance configuration


@dataclass
class _Admitted:
    """A request that passed auth, routing, validation, faults and quotas."""

    op: str
    card: ModelCard
    route: Route
    req: GenRequest
    faults: FaultPlan
    reserve: int


@dataclass
class _Outcome:
    """What the stats and the quota book learn when the request is done."""

    status: int = 200
    code: str | None = None
    kind: str | None = None
    reserved: tuple[ModelCard, int] | None = None
    waited: float = 0.0


def dispatch(app: App, req: Request, out: Responder) -> None:
    """Answer one request to a region's listener (the listeners' only entry into the operations)."""
    if control_plane.is_control_plane(req.path):  # the `bedrock` service's calls (doctor), served from the cards
        reply = control_plane.serve(app.cards, app.secrets, req.method, req.path, req.headers, req.body,
                                    region=req.region, scheme=req.scheme, rid=request_id())
        out.send(reply.status, reply.headers, reply.body)
        return
    serve_runtime(app, req, out)


def serve_runtime(app: App, req: Request, out: Responder) -> None:
    """Count, wait out the client's network time, answer, and account for the result."""
    t_start = req.t_arrival
    rid = request_id()
    match = _PATH.fullmatch(req.path.split("?", 1)[0])
    op = OPERATIONS.get(match.group(2)) if match else None
    n = app.stats.count_request(op or "Unknown", req.region, req.headers.get("amz-sdk-request"), req.protocol)
    network_s = app.latency.network_s(req.region)
    if network_s:
        sleep_until(t_start + network_s)
    res = _Outcome(waited=network_s)
    try:
        try:
            admitted = _admit(app, req, op, match, n, rid, out, res)
        except BedrockError as err:
            res.status, res.code, res.kind = err.status, err.code, err.kind
            out.send(err.status, error_headers(err, rid), err.body())
            return
        if admitted is not None:
            _generate(app, admitted, req.region, rid, out, t_start + network_s, n, res)
    except ResetConnection:
        res.status = 0
        out.abort()
    except (OSError, ssl.SSLError):
        res.status = 0
        out.close_connection = True
    except Exception:  # a bug: answer like Bedrock's 500 and keep serving; the traceback goes to stderr
        traceback.print_exc()
        res.status, res.code, res.kind = 500, "InternalServerException", "bug"
        out.close_connection = True
        bug = BedrockError("InternalServerException", "The emulator failed to process the request.")
        with contextlib.suppress(Exception):
            out.send(bug.status, error_headers(bug, rid), bug.body())
    finally:
        if res.reserved is not None and res.status == 200:
            app.quotas.release(req.region, res.reserved[0], res.reserved[1])
        app.stats.count_result(res.status, res.code, res.kind, max(0.0, time.perf_counter() - t_start - res.waited))


def _admit(app: App, req: Request, op: str | None, match: re.Match[str] | None, n: int, rid: str,
           out: Responder, res: _Outcome) -> _Admitted | None:
    """Authenticate, route and validate; None when the request was already answered (CountTokens)."""
    raw_path = req.path.split("?", 1)[0]
    mode = authenticate(req.method, raw_path, req.headers, req.body, scheme=req.scheme, region=req.region,
                        secrets=app.secrets)
    app.stats.count_auth(mode)
    if req.method != "POST" or op is None or match is None:
        raise BedrockError(UNKNOWN_OPERATION, UNKNOWN_OPERATION, kind="routing")
    model_id = unquote(match.group(1))
    if op == "CountTokens":
        card = resolve_count_tokens(app.cards, model_id, req.region)
        if card.model_id in app.options.count_tokens_unsupported or card.emulator.get("count_tokens", 1.0) == 0.0:
            raise invalid("count_tokens")
        tokens = count_tokens_request(card, parse_json(req.body))
        out.send(200, [("Content-Type", "application/json"), ("x-amzn-RequestId", rid)],
                 json_bytes({"inputTokens": tokens}))
        return None
    route = resolve(app.cards, model_id, req.region)
    card = route.card
    if op in STREAMING_OPS and not card.streaming:
        raise invalid("streaming")
    if op in ("Converse", "ConverseStream"):
        gen_req = converse_request(card, parse_json(req.body))
    else:
        gen_req = invoke_request(card, req.body, req.headers)
    faults = app.faults.draw(n, op in STREAMING_OPS)
    if faults.names():
        app.stats.count_faults(faults.names())
    if faults.error is not None:
        raise faults.error
    reserve = gen_req.input_tokens + (gen_req.max_tokens or card.max_output_tokens)
    app.quotas.reserve(req.region, card, reserve)
    res.reserved = (card, reserve)
    return _Admitted(op, card, route, gen_req, faults, reserve)


def _generate(app: App, a: _Admitted, region: str, rid: str, out: Responder, t0: float, n: int,
              res: _Outcome) -> None:
    """Generate, plan the timing, answer (unary or stream) and record how late the first write began."""
    req, faults = a.req, a.faults
    gen = app.engine.generate(a.card, req)
    rng = random.Random((int(req.canonical[24:48], 16) ^ app.options.seed) * 1_000_003 + n)
    destination = rng.choice(a.route.destinations)
    streaming = a.op in STREAMING_OPS
    plan = app.latency.plan(a.card, region, destination, req.input_tokens, sum(i.megapixels for i in req.images),
                            gen.output_tokens, rng, streaming=streaming)
    res.waited += plan.server_total_s + faults.stall_s + faults.trickle_s * gen.output_tokens
    if faults.stall_s:
        time.sleep(faults.stall_s)
    if streaming:
        late_s = _stream(out, rid, a.op, req, gen, plan, faults, t0, rng)
    else:
        late_s = _unary(out, rid, a.op, req, gen, plan, faults, t0)
    if late_s is not None and not (faults.stall_s or faults.trickle_s):
        app.stats.count_lateness(late_s)
    res.reserved = (a.card, a.reserve - req.input_tokens - gen.output_tokens)  # give back the unused part


def tier_headers(req: GenRequest) -> Headers:
    """InvokeModel's echo of what served the request: the tier and latency mode (defaults when unset)."""
    return [("X-Amzn-Bedrock-Service-Tier", req.service_tier or DEFAULT_TIER),
            ("X-Amzn-Bedrock-PerformanceConfig-Latency", req.performance_latency or DEFAULT_LATENCY)]


def _unary(out: Responder, rid: str, op: str, req: GenRequest, gen: Generation, plan: Plan, faults: FaultPlan,
           t0: float) -> float:
    """Answer at the planned time; returns how late the write began (seconds past the deadline).

    The answer is built before the wait, so the write starts as the deadline passes; its reported latency is
    the planned server time, or the time already spent if that is longer (the admin stats say how late the
    write really was).
    """
    due = t0 + plan.server_total_s
    latency_ms = round((max(time.perf_counter(), due) - t0) * 1000)
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", rid)]
    if op == "Converse":
        body = json_bytes(responses.converse(req, gen, latency_ms))
    else:
        headers += [
            ("X-Amzn-Bedrock-Invocation-Latency", str(latency_ms)),
            ("X-Amzn-Bedrock-Output-Token-Count", str(gen.output_tokens)),
            ("X-Amzn-Bedrock-Input-Token-Count", str(req.input_tokens)),
            *tier_headers(req),
        ]
        body = json_bytes(responses.invoke(req, gen, rid))
    if faults.connection_reset:
        sleep_until(due)
        late_s = time.perf_counter() - due
        out.send(200, headers, body, reset=True)
        return late_s
    write = out.prepare(200, headers, body)
    sleep_until(due)
    late_s = time.perf_counter() - due
    write()
    return late_s


def _stream(out: Responder, rid: str, op: str, req: GenRequest, gen: Generation, plan: Plan, faults: FaultPlan,
            t0: float, rng: random.Random) -> float | None:
    """Send the event stream, each token at its planned time; frames due together go in one write.

    Returns how late the write of the first token began (seconds past its deadline), None if the stream was cut.
    """
    headers = [("Content-Type", "application/vnd.amazon.eventstream"), ("x-amzn-RequestId", rid)]
    if op == "InvokeModelWithResponseStream":
        headers += [("X-Amzn-Bedrock-Content-Type", "application/json"), *tier_headers(req)]
    pieces = gen.pieces() or [""]
    gaps = plan.gaps_s
    due = [t0 + plan.first_token_s]
    for i in range(1, len(pieces)):
        due.append(due[-1] + (gaps[i - 1] if i - 1 < len(gaps) else 0.0) + faults.trickle_s)
    cut = len(pieces) // 2 if (faults.midstream_exception or faults.connection_reset) else None
    out.start_stream(headers)
    pending = bytearray(responses.converse_start(rng.randrange(64))) if op == "ConverseStream" else bytearray()
    first_byte_ms: int | None = None
    first_late_s: float | None = None
    for i, piece in enumerate(pieces):
        if cut is not None and i == cut:
            out.chunk(bytes(pending))
            if faults.connection_reset:
                raise ResetConnection
            out.chunk(exception_frame(MIDSTREAM_TYPE, MIDSTREAM_MESSAGE))
            out.end_stream()
            return None
        if due[i] > time.perf_counter():
            if i > 0 and first_late_s is None:  # the first token goes out in this write
                first_late_s = time.perf_counter() - due[0]
            out.chunk(bytes(pending))
            pending.clear()
            sleep_until(due[i])
        if first_byte_ms is None:
            first_byte_ms = round((time.perf_counter() - t0) * 1000)
        pending += _stream_piece(op, req, gen, rid, i, piece, i == len(pieces) - 1, t0, first_byte_ms, rng)
    if op == "ConverseStream":
        latency_ms = round((time.perf_counter() - t0) * 1000)
        pending += responses.converse_end(req, gen, latency_ms, rng.randrange(64))
    if first_late_s is None:  # the first token goes out with later ones, in this last write
        first_late_s = time.perf_counter() - due[0]
    out.chunk(bytes(pending))
    out.end_stream()
    return first_late_s


def _stream_piece(op: str, req: GenRequest, gen: Generation, rid: str, i: int, piece: str, last: bool, t0: float,
                  first_byte_ms: int, rng: random.Random) -> bytes:
    """The frame of one token: a contentBlockDelta, or an InvokeModel `chunk` (metrics on the last)."""
    if op == "ConverseStream":
        return responses.converse_delta(piece, rng.randrange(64))
    metrics = None
    if last:
        total_ms = round((time.perf_counter() - t0) * 1000)
        metrics = {"inputTokenCount": req.input_tokens, "outputTokenCount": gen.output_tokens,
                   "invocationLatency": total_ms, "firstByteLatency": first_byte_ms}
    return responses.invoke_chunk(req, rid, i, piece, last, gen, metrics, rng.randrange(64))
