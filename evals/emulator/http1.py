"""HTTP/1.1 on one connection with h11: keep-alive, content-length and chunked bodies, read deadlines, 413.

One thread per connection, as before: a request is read, dispatched and answered on this thread, so an
answer's write starts the moment its deadline passes (no event loop or queue between the wait and the send).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable

import h11

from evals.emulator.clock import http_date
from evals.emulator.exchange import Dispatch, Headers, Request, ResetConnection
from evals.emulator.options import Limits
from evals.emulator.transport import PlainTransport
from evals.emulator.wire import REASONS, response_head

MAX_HEAD_BYTES = 65536
TOO_LARGE = "Request body is larger than the {limit}-byte limit."
TIMED_OUT = "The request was not received in time."
ERROR_TYPE = "x-amzn-ErrorType"
NAMESPACE = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


class Refused(Exception):
    """The request cannot be served (timeout, size, malformed): answer `status` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Http1Connection:
    """Serve requests on one connection until the client closes, a deadline passes or a reset is injected."""

    def __init__(self, transport: PlainTransport, dispatch: Dispatch, limits: Limits, scheme: str, region: str,
                 first: bytes = b"", t_first: float | None = None) -> None:
        self.t = transport
        self.dispatch = dispatch
        self.limits = limits
        self.scheme = scheme
        self.region = region
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.h11.receive_data(first)
        self.t_first = t_first if first else None
        self.closed = False

    def serve(self) -> None:
        while not self.closed:
            try:
                req = self._read_request()
            except Refused as err:
                self._refuse(err.status, err.message)
                return
            except h11.RemoteProtocolError as err:
                self._refuse(err.error_status_hint, f"Malformed HTTP request: {err}")
                return
            except (TimeoutError, OSError, h11.ProtocolError):
                return
            if req is None:
                return
            out = Http1Responder(self)
            self.dispatch(req, out)
            if out.close_connection or self.closed or self.h11.our_state is not h11.DONE \
                    or self.h11.their_state is not h11.DONE:
                return
            self.h11.start_next_cycle()

    def _recv(self, deadline: float | None) -> float:
        """Feed the next bytes to h11; returns when they arrived."""
        data = self.t.recv(deadline)
        now = time.perf_counter()
        self.h11.receive_data(data)
        return now

    def _read_request(self) -> Request | None:
        """The next whole request, or None when the client closed between requests."""
        t_arrival = self.t_first if self.t_first is not None else (
            time.perf_counter() if self.h11.trailing_data[0] else None)
        self.t_first = None
        deadline = None if t_arrival is None else t_arrival + self.limits.header_timeout_s
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                if t_arrival is None:
                    t_arrival = self._recv_idle()
                    if t_arrival is None:
                        return None
                    deadline = t_arrival + self.limits.header_timeout_s
                else:
                    self._recv_or_refuse(deadline)
                continue
            if isinstance(event, h11.Request):
                break
            return None  # ConnectionClosed (or PAUSED after a close)
        assert t_arrival is not None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        body = self._read_body(headers)
        return Request(event.method.decode("ascii"), event.target.decode("latin-1"), headers, body, t_arrival,
                       "HTTP/1.1", self.scheme, self.region)

    def _recv_idle(self) -> float | None:
        """Wait for the first bytes of the next request (idle timeout); None when the client is gone."""
        try:
            t = self._recv(time.perf_counter() + self.limits.idle_timeout_s)
        except TimeoutError:
            return None
        return None if self.h11.their_state is h11.CLOSED else t

    def _recv_or_refuse(self, deadline: float | None) -> None:
        try:
            self._recv(deadline)
        except TimeoutError:
            raise Refused(408, TIMED_OUT) from None

    def _read_body(self, headers: dict[str, str]) -> bytes:
        limit = self.limits.max_body_bytes
        try:
            declared = int(headers.get("content-length", "0"))
        except ValueError:
            declared = 0  # h11 has already refused a malformed length
        if declared > limit:
            raise Refused(413, TOO_LARGE.format(limit=limit))
        if self.h11.client_is_waiting_for_100_continue:
            self.t.sendall(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        deadline = time.perf_counter() + self.limits.body_timeout_s
        parts: list[bytes] = []
        size = 0
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self._recv_or_refuse(deadline)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise Refused(413, TOO_LARGE.format(limit=limit))
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            else:  # the client closed mid-body
                raise ConnectionError("closed mid-body")

    def _refuse(self, status: int, message: str) -> None:
        """Answer a protocol-level refusal (restJson1 error shape) and close the connection."""
        body = json.dumps({"message": message}).encode()
        headers = [("Content-Type", "application/json"), (ERROR_TYPE, "ValidationException" + NAMESPACE),
                   ("Date", http_date()), ("Content-Length", str(len(body))), ("Connection", "close")]
        try:
            if self.h11.our_state is h11.SEND_RESPONSE:
                data = self.h11.send(h11.Response(status_code=status, headers=headers,
                                                  reason=REASONS.get(status, "").encode()))
                self.t.sendall(data + body)
            else:  # no request line yet: h11 cannot frame an answer, so it is written out here
                self.t.sendall(response_head(status, headers) + body)
        except (OSError, h11.ProtocolError):
            pass
        self.closed = True


class Http1Responder:
    """Frames one answer with h11 (Content-Length or chunked) and adds `Date`; one write per call."""

    def __init__(self, conn: Http1Connection) -> None:
        self.c = conn
        self.close_connection = False

    def _head(self, status: int, headers: Headers) -> bytes:
        return self.c.h11.send(h11.Response(status_code=status, headers=[*headers, ("Date", http_date())],
                                            reason=REASONS.get(status, "").encode()))

    def prepare(self, status: int, headers: Headers, body: bytes) -> Callable[[], None]:
        head = self._head(status, [*headers, ("Content-Length", str(len(body)))])
        data = head + (self.c.h11.send(h11.Data(data=body)) if body else b"") + self.c.h11.send(h11.EndOfMessage())
        return functools.partial(self.c.t.sendall, data)

    def send(self, status: int, headers: Headers, body: bytes, reset: bool = False) -> None:
        head = self._head(status, [*headers, ("Content-Length", str(len(body)))])
        if reset:
            self.c.t.sendall(head + self.c.h11.send(h11.Data(data=body[: len(body) // 2])))
            raise ResetConnection
        data = head + (self.c.h11.send(h11.Data(data=body)) if body else b"")
        self.c.t.sendall(data + self.c.h11.send(h11.EndOfMessage()))

    def start_stream(self, headers: Headers) -> None:
        self.c.t.sendall(self._head(200, headers))

    def chunk(self, data: bytes) -> None:
        if data:
            self.c.t.sendall(self.c.h11.send(h11.Data(data=data)))

    def end_stream(self) -> None:
        self.c.t.sendall(self.c.h11.send(h11.EndOfMessage()))

    def abort(self) -> None:
        self.c.closed = True
        self.c.t.rst()
