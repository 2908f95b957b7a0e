"""Per-attempt timing of one boto3 call, from botocore event hooks, turned into an `Outcome`.

Retries are botocore's own, so the harness sees attempts only through the client's events: the hooks write into
a thread-local log, which lets one client serve many threads. An exception from a call or a stream read becomes
an error code, message and HTTP status here, so every failure ends as a record, whatever raised it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import urllib3.exceptions
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

from evals.apis.converse import ConverseStreamAssembler
from evals.apis.invoke_llama import InvokeStreamAssembler
from evals.run.outcome import STATUS_ERROR, STATUS_OK, Outcome, classify, is_throttle_attempt
from evals.types import Reply


class Attempts:
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
    if is_throttle_attempt(code, status):
        rec.throttles += 1


def register_hooks(client: Any) -> None:
    """Time every attempt of `client`'s calls into the calling thread's log (see `track`)."""
    events = client.meta.events
    # Registered last on the generic events so the adaptive limiter's wait happens before the start mark.
    events.register_last("before-send", _on_before_send, unique_id="evals-attempt-start")
    events.register_last("response-received", _on_response_received, unique_id="evals-attempt-end")
    events.register_first("before-parse", _on_before_parse, unique_id="evals-response-read")


def track(rec: Attempts | None) -> None:
    """Make `rec` the calling thread's attempt log (None: stop logging)."""
    _tls.rec = rec


def normalise_code(code: str) -> str:
    """Event-stream exceptions use lowerCamel names (`throttlingException`); records use the HTTP names."""
    return code[:1].upper() + code[1:] if code else code


def describe_exception(err: Exception, rec: Attempts) -> tuple[str, str, int | None]:
    """(error_code, message, http_status) for anything a call or a stream read raised."""
    if isinstance(err, EventStreamError):
        error = err.response.get("Error") or {}
        code = normalise_code(str(error.get("Code") or "EventStreamError"))
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


def error_outcome(
    t_intended: int,
    t_call: int,
    t_done: int,
    rec: Attempts,
    code: str,
    message: str,
    http_status: int | None,
    assembler: ConverseStreamAssembler | InvokeStreamAssembler | None = None,
) -> Outcome:
    return make_outcome(t_intended, t_call, t_done, rec, assembler, error=(code, message), http_status=http_status)


def make_outcome(
    t_intended: int,
    t_call: int,
    t_done: int,
    rec: Attempts,
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
