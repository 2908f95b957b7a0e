"""Sending requests through boto3 `bedrock-runtime` clients and timing them.

One client per region, shared by every worker thread (botocore clients are thread-safe). Retries are
botocore's own (standard, adaptive or legacy); per-attempt times come from botocore event hooks that write
into a thread-local record, so one client can serve many threads. Bodies are built before the clock starts.
Every failure, whatever raised it, comes back as an error `Outcome` with a code, a class and a message.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import urllib3.exceptions
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch, ParserError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    EventStreamError,
    NoAuthTokenError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.tokens import FrozenAuthToken
from botocore.utils import get_token_from_environment

from evals.apis.converse import ConverseStreamAssembler, build_converse_kwargs, parse_converse
from evals.apis.invoke_llama import BODY_STYLES, InvokeStreamAssembler, build_invoke_kwargs, parse_invoke
from evals.errors import UserInputError
from evals.types import API_CONVERSE, API_CONVERSE_STREAM, API_INVOKE, API_INVOKE_STREAM, Reply, Request

SERVICE = "bedrock-runtime"
SIGNING_NAME = "bedrock"
RETRY_MODES = ("standard", "adaptive", "legacy")
AUTH_MODES = ("sigv4", "bearer", "auto")

STATUS_OK = "ok"
STATUS_ERROR = "error"
CLASS_THROTTLE = "throttle"
CLASS_TRANSIENT = "transient"
CLASS_CLIENT = "client"
CLASS_FATAL = "fatal"

THROTTLE_CODES = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"})
TRANSIENT_CODES = frozenset(
    {
        "ModelNotReadyException",
        "InternalServerException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "ModelStreamErrorException",
        "ReadTimeout",
        "ConnectTimeout",
        "EndpointConnectionError",
        "ConnectionClosed",
        "ResponseStreamingError",
        "EventStreamCorrupt",
        "IncompleteStream",
    }
)
# ModelErrorException (424) is "client": it is about this input (the model failed on it), retrying the same
# request does not help, and the run can go on. "fatal" is kept for what fails every request alike
# (credentials, configuration, harness bugs), so a runner may stop on it.
CLIENT_CODES = frozenset(
    {
        "ValidationException",
        "AccessDeniedException",
        "ResourceNotFoundException",
        "ModelErrorException",
        "ParamValidationError",
        "BuildError",
        "ResponseParseError",
    }
)
FATAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "NoCredentialsError",
        "NoAuthTokenError",
        "UnknownRegion",
    }
)


def classify(code: str, http_status: int | None) -> str:
    """throttle | transient | client | fatal for an error code (service or client-side) and HTTP status."""
    if code in THROTTLE_CODES:
        return CLASS_THROTTLE
    if code in TRANSIENT_CODES:
        return CLASS_TRANSIENT
    if code in CLIENT_CODES:
        return CLASS_CLIENT
    if code in FATAL_CODES:
        return CLASS_FATAL
    if http_status == 429:
        return CLASS_THROTTLE
    if http_status is not None and 500 <= http_status < 600:
        return CLASS_TRANSIENT
    return CLASS_FATAL


def _is_throttle_attempt(code: str | None, status: int | None) -> bool:
    """An attempt ended in a throttle: a throttle code, or any 429 that is not ModelNotReady."""
    if code in THROTTLE_CODES:
        return True
    return status == 429 and code != "ModelNotReadyException"


@dataclass(frozen=True)
class TransportSettings:
    """How clients are built: retries, timeouts, pool size, InvokeModel body style and auth."""

    retry_mode: str = "standard"
    max_attempts: int = 3  # total attempts, the first included
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    max_pool_connections: int = 64
    invoke_body_style: str = "prompt"  # prompt | messages
    auth: str = "auto"  # sigv4 | bearer | auto

    def __post_init__(self) -> None:
        if self.retry_mode not in RETRY_MODES:
            raise UserInputError(f"transport.retry_mode={self.retry_mode!r}: use one of {', '.join(RETRY_MODES)}")
        if self.auth not in AUTH_MODES:
            raise UserInputError(f"transport.auth={self.auth!r}: use one of {', '.join(AUTH_MODES)}")
        if self.invoke_body_style not in BODY_STYLES:
            raise UserInputError(
                f"transport.invoke_body_style={self.invoke_body_style!r}: use one of {', '.join(BODY_STYLES)}"
            )
        if self.max_attempts < 1:
            raise UserInputError(f"transport.max_attempts={self.max_attempts}: must be >= 1")
        if self.max_pool_connections < 1:
            raise UserInputError(f"transport.max_pool_connections={self.max_pool_connections}: must be >= 1")
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise UserInputError("transport timeouts must be > 0 seconds")


@dataclass(frozen=True)
class RegionEndpoint:
    https: str | None
    http: str | None
    ca_file: str | None


@dataclass(frozen=True)
class LocalEndpoints:
    """The emulator's endpoints file. The keys are the emulator's own, kept out of repr and `describe()`."""

    regions: Mapping[str, RegionEndpoint]
    ca_file: str | None
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    api_key: str = field(repr=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LocalEndpoints:
        try:
            creds = data["credentials"]
            ca_file = data.get("ca_file")
            regions = {
                str(name): RegionEndpoint(
                    https=ep.get("https"), http=ep.get("http"), ca_file=ep.get("ca_file") or ca_file
                )
                for name, ep in data["regions"].items()
            }
            return cls(
                regions=regions,
                ca_file=ca_file,
                access_key_id=str(creds["access_key_id"]),
                secret_access_key=str(creds["secret_access_key"]),
                api_key=str(creds.get("api_key") or ""),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise UserInputError(f"emulator endpoints: malformed ({err!r})") from None

    @classmethod
    def from_file(cls, path: str | Path) -> LocalEndpoints:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UserInputError(f"{path}: cannot read emulator endpoints: {err}") from None
        return cls.from_mapping(data)


@dataclass(frozen=True)
class Outcome:
    """One finished request: the reply or the error, and its timings (absolute `perf_counter_ns`)."""

    status: str  # ok | error
    reply: Reply | None
    error_code: str | None
    error_class: str | None  # throttle | transient | client | fatal
    error_message: str | None
    http_status: int | None
    attempts: int
    throttles: int
    backoff_ms: float
    t_intended_ns: int
    t_sent_ns: int
    t_first_token_ns: int | None
    t_done_ns: int
    last_attempt_ms: float
    itl_ms: tuple[float, ...] = ()
    delta_chars: tuple[int, ...] = ()
    aws_request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


class _Attempts:
    """Per-call attempt log written by the botocore hooks of the calling thread."""

    __slots__ = ("ends", "last_code", "last_status", "received", "request_id", "starts", "throttles")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.received: list[int] = []  # response read off the socket, before botocore parses it
        self.throttles = 0
        self.last_status: int | None = None
        self.last_code: str | None = None
        self.request_id: str | None = None

    def backoff_ns(self) -> int:
        """Gaps between one attempt's end and the next attempt's start."""
        return sum(max(0, s - e) for e, s in zip(self.ends, self.starts[1:], strict=False))


_tls = threading.local()


def _on_before_send(**_kwargs: Any) -> None:
    """Marks an attempt's start. Must return None: a value would be taken as the HTTP response."""
    rec = getattr(_tls, "rec", None)
    if rec is not None:
        rec.starts.append(time.perf_counter_ns())


def _on_before_parse(**_kwargs: Any) -> None:
    """Marks when a response was read (the whole body for non-streaming operations), before parsing."""
    rec = getattr(_tls, "rec", None)
    if rec is not None:
        rec.received.append(time.perf_counter_ns())


def _on_response_received(
    parsed_response: Mapping[str, Any] | None = None,
    response_dict: Mapping[str, Any] | None = None,
    **_kwargs: Any,
) -> None:
    """Marks an attempt's end (headers in, body not yet read for streams) and whether it was a throttle."""
    now = time.perf_counter_ns()
    rec = getattr(_tls, "rec", None)
    if rec is None:
        return
    rec.ends.append(now)
    status = response_dict.get("status_code") if response_dict else None
    code = None
    if parsed_response:
        error = parsed_response.get("Error")
        if error:
            code = error.get("Code") or None
        rid = (parsed_response.get("ResponseMetadata") or {}).get("RequestId")
        if rid:
            rec.request_id = rid
    rec.last_status = status
    rec.last_code = code
    if _is_throttle_attempt(code, status):
        rec.throttles += 1


class _StaticToken:
    """Token provider for one botocore session: the emulator's API key, never placed in the process env."""

    METHOD = "evals-static"

    def __init__(self, token: str) -> None:
        self._token = FrozenAuthToken(token)

    def load_token(self, **_kwargs: Any) -> FrozenAuthToken:
        return self._token

    def __repr__(self) -> str:
        return "_StaticToken(***)"


def _normalise_code(code: str) -> str:
    """Event-stream exceptions use lowerCamel names (`throttlingException`); records use the HTTP names."""
    return code[:1].upper() + code[1:] if code else code


class Transport:
    """Blocking, thread-safe `send`; one boto3 client per region, built lazily and reused.

    `endpoints` given: the local emulator (SigV4 over its http listener with its keys, or bearer over https
    with its CA file and API key; `auth="auto"` means SigV4). `endpoints` None: real Bedrock through the
    standard credential chain (`AWS_BEARER_TOKEN_BEDROCK`, env, profiles, roles).
    """

    def __init__(
        self,
        settings: TransportSettings,
        family: str,
        endpoints: LocalEndpoints | Mapping[str, Any] | None = None,
        concurrency: int = 1,
    ) -> None:
        self.settings = settings
        self.family = family
        if endpoints is not None and not isinstance(endpoints, LocalEndpoints):
            endpoints = LocalEndpoints.from_mapping(endpoints)
        self._endpoints: LocalEndpoints | None = endpoints
        self.target = "local" if endpoints is not None else "aws"
        self.auth = self._resolve_auth()
        self._pool = max(settings.max_pool_connections, concurrency)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session = self._make_session()
        self._config = Config(
            retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout_s,
            read_timeout=settings.read_timeout_s,
            max_pool_connections=self._pool,
            tcp_keepalive=True,
            **self._auth_config(),
        )

    # ----- construction -------------------------------------------------------------------------------

    def _resolve_auth(self) -> str:
        auth = self.settings.auth
        if self._endpoints is not None:
            if auth == "auto":
                return "sigv4"
            if auth == "bearer" and not self._endpoints.api_key:
                raise UserInputError("transport.auth=bearer: the emulator endpoints carry no api_key")
            return auth
        if auth == "bearer" and get_token_from_environment(SIGNING_NAME) is None:
            raise UserInputError("transport.auth=bearer: AWS_BEARER_TOKEN_BEDROCK is not set")
        if auth == "auto":
            return "bearer" if get_token_from_environment(SIGNING_NAME) is not None else "sigv4"
        return auth

    def _auth_config(self) -> dict[str, Any]:
        """Set the signer in code so an `AWS_BEARER_TOKEN_BEDROCK` in the env cannot override the choice."""
        if self.settings.auth == "auto" and self._endpoints is None:
            return {}
        return {"signature_version": "bearer" if self.auth == "bearer" else "v4"}

    def _make_session(self) -> boto3.Session:
        if self._endpoints is None:
            return boto3.Session()
        core = botocore.session.Session()
        if self.auth == "bearer":
            # Per-session token provider: the API key reaches only clients of this session.
            core.register_component("token_provider", _StaticToken(self._endpoints.api_key))
        return boto3.Session(botocore_session=core)

    def _build_client(self, region: str) -> Any:
        kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
        ep = self._endpoints
        if ep is not None:
            region_ep = ep.regions.get(region)
            if region_ep is None:
                raise KeyError(region)
            if self.auth == "bearer":
                if not region_ep.https:
                    raise UserInputError(f"emulator endpoints: region {region} has no https endpoint")
                kwargs["endpoint_url"] = region_ep.https
                kwargs["verify"] = region_ep.ca_file or ep.ca_file or True
            else:
                url = region_ep.http or region_ep.https
                if not url:
                    raise UserInputError(f"emulator endpoints: region {region} has no endpoint")
                kwargs["endpoint_url"] = url
                if url.startswith("https:"):
                    kwargs["verify"] = region_ep.ca_file or ep.ca_file or True
            # Explicit keys: the emulator's credentials stay in this client, never in env or files.
            kwargs["aws_access_key_id"] = ep.access_key_id
            kwargs["aws_secret_access_key"] = ep.secret_access_key
        client = self._session.client(SERVICE, **kwargs)
        events = client.meta.events
        # Registered last on the generic events so the adaptive limiter's wait happens before the start mark.
        events.register_last("before-send", _on_before_send, unique_id="evals-attempt-start")
        events.register_last("response-received", _on_response_received, unique_id="evals-attempt-end")
        events.register_first("before-parse", _on_before_parse, unique_id="evals-response-read")
        return client

    def client(self, region: str) -> Any:
        """The region's client, created once (under a lock) and shared by all threads."""
        client = self._clients.get(region)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._build_client(region)
                self._clients[region] = client
        return client

    def describe(self) -> dict[str, Any]:
        """Reportable state for run.json: target, auth mode, endpoints and settings; never a secret."""
        out: dict[str, Any] = {
            "target": self.target,
            "auth": self.auth,
            "family": self.family,
            "retry_mode": self.settings.retry_mode,
            "max_attempts": self.settings.max_attempts,
            "connect_timeout_s": self.settings.connect_timeout_s,
            "read_timeout_s": self.settings.read_timeout_s,
            "max_pool_connections": self._pool,
            "invoke_body_style": self.settings.invoke_body_style,
        }
        if self._endpoints is not None:
            out["endpoints"] = {
                name: (ep.https if self.auth == "bearer" else ep.http or ep.https)
                for name, ep in self._endpoints.regions.items()
            }
        return out

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ----- sending ------------------------------------------------------------------------------------

    def build_kwargs(self, request: Request, metadata: Mapping[str, str]) -> dict[str, Any]:
        """The boto3 keyword arguments for `request` (also used by benchmarks to replay the same call)."""
        if request.api in (API_CONVERSE, API_CONVERSE_STREAM):
            return build_converse_kwargs(request, metadata)
        if request.api in (API_INVOKE, API_INVOKE_STREAM):
            return build_invoke_kwargs(request, self.family, metadata, self.settings.invoke_body_style)
        raise ValueError(f"unknown api {request.api!r}")

    def send(self, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> Outcome:
        """Send one request and time it; never raises for a failed request (it becomes an error Outcome)."""
        try:
            kwargs = self.build_kwargs(request, metadata)
        except Exception as err:  # a body that cannot be built is this request's error, not the run's
            now = time.perf_counter_ns()
            return _error(t_intended_ns, now, now, _Attempts(), "BuildError", f"{type(err).__name__}: {err}", None)
        try:
            client = self.client(request.region)
        except KeyError:
            now = time.perf_counter_ns()
            msg = f"region {request.region} is not served by this target"
            return _error(t_intended_ns, now, now, _Attempts(), "UnknownRegion", msg, None)
        except Exception as err:
            now = time.perf_counter_ns()
            return _error(t_intended_ns, now, now, _Attempts(), type(err).__name__, str(err), None)

        rec = _Attempts()
        _tls.rec = rec
        t_call = time.perf_counter_ns()
        stream = None
        assembler: ConverseStreamAssembler | InvokeStreamAssembler | None = None
        try:
            api = request.api
            if api == API_CONVERSE:
                response = client.converse(**kwargs)
                # last byte in: read before botocore parsed it, so parsing is not counted as service latency
                t_done = rec.received[-1] if rec.received else time.perf_counter_ns()
                reply = parse_converse(response)
            elif api == API_INVOKE:
                response = client.invoke_model(**kwargs)
                body = response["body"].read()
                t_done = time.perf_counter_ns()
                reply = parse_invoke(body, response["ResponseMetadata"].get("HTTPHeaders"))
            else:
                if api == API_CONVERSE_STREAM:
                    response = client.converse_stream(**kwargs)
                    stream = response["stream"]
                    assembler = ConverseStreamAssembler()
                else:
                    response = client.invoke_model_with_response_stream(**kwargs)
                    stream = response["body"]
                    assembler = InvokeStreamAssembler()
                feed: Callable[[Mapping[str, Any], int], None] = assembler.feed
                clock = time.perf_counter_ns
                t_last = 0
                for event in stream:
                    t_last = clock()
                    feed(event, t_last)
                t_done = t_last or clock()  # when the last event was read
                stream = None
                if not assembler.complete:
                    msg = f"the event stream ended after {assembler.events} events without a stop reason"
                    return _error(t_intended_ns, t_call, t_done, rec, "IncompleteStream", msg, rec.last_status,
                                  assembler)
                reply = assembler.reply()
        except Exception as err:
            t_done = time.perf_counter_ns()
            if stream is not None:
                _close_quietly(stream)
            code, message, status = _describe_exception(err, rec)
            if isinstance(err, EventStreamError) and code in THROTTLE_CODES:
                rec.throttles += 1  # a throttle inside a stream ends that attempt too
            return _error(t_intended_ns, t_call, t_done, rec, code, message, status, assembler)
        finally:
            _tls.rec = None

        meta = response.get("ResponseMetadata") or {}
        return _outcome(t_intended_ns, t_call, t_done, rec, assembler, reply=reply,
                        http_status=meta.get("HTTPStatusCode"), request_id=meta.get("RequestId"))


def _close_quietly(stream: Any) -> None:
    """Drop a half-read stream's connection; a failure to close must not hide the original error."""
    with contextlib.suppress(Exception):
        stream.close()


def _describe_exception(err: Exception, rec: _Attempts) -> tuple[str, str, int | None]:
    """(error_code, message, http_status) for anything a call or a stream read raised."""
    if isinstance(err, EventStreamError):
        error = err.response.get("Error") or {}
        code = _normalise_code(str(error.get("Code") or "EventStreamError"))
        return code, str(error.get("Message") or err), rec.last_status
    if isinstance(err, ClientError):
        error = err.response.get("Error") or {}
        status = (err.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        code = str(error.get("Code") or (f"HTTP{status}" if status else "ClientError"))
        return code, str(error.get("Message") or err), status
    if isinstance(err, ReadTimeoutError | urllib3.exceptions.ReadTimeoutError):
        return "ReadTimeout", str(err), None
    if isinstance(err, ConnectTimeoutError):
        return "ConnectTimeout", str(err), None
    if isinstance(err, EndpointConnectionError):
        return "EndpointConnectionError", str(err), None
    if isinstance(err, ConnectionClosedError | urllib3.exceptions.ProtocolError | ConnectionError):
        return "ConnectionClosed", str(err), None
    if isinstance(err, ResponseStreamingError):
        return "ResponseStreamingError", str(err), None
    if isinstance(err, ChecksumMismatch | ParserError):
        return "EventStreamCorrupt", f"{type(err).__name__}: {err}", rec.last_status
    if isinstance(err, ParamValidationError):
        return "ParamValidationError", str(err), None
    if isinstance(err, NoCredentialsError | NoAuthTokenError):
        return type(err).__name__, str(err), None
    if isinstance(err, ValueError | KeyError | TypeError) and rec.starts:
        return "ResponseParseError", f"{type(err).__name__}: {err}", rec.last_status
    if isinstance(err, BotoCoreError):
        return type(err).__name__, str(err), None
    return type(err).__name__, str(err) or repr(err), None


def _error(
    t_intended: int,
    t_call: int,
    t_done: int,
    rec: _Attempts,
    code: str,
    message: str,
    http_status: int | None,
    assembler: ConverseStreamAssembler | InvokeStreamAssembler | None = None,
) -> Outcome:
    return _outcome(t_intended, t_call, t_done, rec, assembler, error=(code, message), http_status=http_status)


def _outcome(
    t_intended: int,
    t_call: int,
    t_done: int,
    rec: _Attempts,
    assembler: ConverseStreamAssembler | InvokeStreamAssembler | None,
    *,
    reply: Reply | None = None,
    error: tuple[str, str] | None = None,
    http_status: int | None = None,
    request_id: str | None = None,
) -> Outcome:
    """One Outcome from the attempt log, for a reply or an error (code, message)."""
    t_sent = rec.starts[0] if rec.starts else t_call
    last_start = rec.starts[-1] if rec.starts else t_sent
    trace = assembler.trace if assembler is not None else None
    code, message = error if error is not None else (None, None)
    return Outcome(
        status=STATUS_ERROR if error is not None else STATUS_OK,
        reply=reply,
        error_code=code,
        error_class=classify(code, http_status) if code is not None else None,
        error_message=message,
        http_status=http_status,
        attempts=len(rec.starts),
        throttles=rec.throttles,
        backoff_ms=rec.backoff_ns() / 1e6,
        t_intended_ns=t_intended,
        t_sent_ns=t_sent,
        t_first_token_ns=trace.first_ns if trace is not None else None,
        t_done_ns=t_done,
        last_attempt_ms=(t_done - last_start) / 1e6,
        itl_ms=trace.itl_ms() if trace is not None else (),
        delta_chars=tuple(trace.delta_chars) if trace is not None else (),
        aws_request_id=request_id or rec.request_id,
    )
