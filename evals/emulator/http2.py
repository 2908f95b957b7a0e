"""HTTP/2 on one connection with h2 (ALPN "h2" over TLS, prior knowledge on plain HTTP).

One thread reads frames for the connection; each complete request is answered on its own thread, which writes
its frames under the connection's lock the moment its deadline passes, as an HTTP/1.1 answer would. Event
streams are DATA frames on the request's stream, written as produced. Flow control is honoured: a writer waits
for the client's WINDOW_UPDATE.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from evals.emulator.clock import http_date
from evals.emulator.exchange import Dispatch, Headers, Request, ResetConnection
from evals.emulator.http1 import ERROR_TYPE, NAMESPACE, TIMED_OUT, TOO_LARGE
from evals.emulator.options import Limits
from evals.emulator.transport import SEND_TIMEOUT_S, PlainTransport

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_STREAMS = 128
CLOSING_POLL_S = 0.05
WINDOW = 1 << 24  # what a client may send before we acknowledge it (request bodies up to the limit fly)


@dataclass
class _Incoming:
    headers: dict[str, str]
    t_arrival: float
    body: bytearray = field(default_factory=bytearray)


class StreamGone(ConnectionError):
    """The client reset the stream or the connection ended while an answer was being written."""


class Http2Connection:
    """Serve one HTTP/2 connection until the client goes away, goes idle or breaks the protocol."""

    def __init__(self, transport: PlainTransport, dispatch: Dispatch, limits: Limits, scheme: str, region: str,
                 first: bytes = b"", t_first: float | None = None) -> None:
        self.t = transport
        self.dispatch = dispatch
        self.limits = limits
        self.scheme = scheme
        self.region = region
        self.first = first
        self.t_first = t_first or time.perf_counter()
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self.lock = threading.Condition(threading.RLock())  # guards self.h2 and the order of bytes on the wire
        self.incoming: dict[int, _Incoming] = {}
        self.gone: set[int] = set()
        self.dead = False
        self.last_event = time.perf_counter()
        self.active = 0  # answers being written: the connection is not idle while any is
        self.closing = False  # the client sent GOAWAY
        # Each request is answered on its own thread (it sleeps to its deadline, then writes); threads are kept
        # for the connection's next requests instead of being started per request.
        self.workers = ThreadPoolExecutor(MAX_STREAMS, thread_name_prefix="h2-stream")

    # reading
    def serve(self) -> None:
        try:
            with self.lock:
                self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
                                         h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW})
                self.h2.initiate_connection()
                self.h2.increment_flow_control_window(WINDOW)
                self._flush()
            self._read_loop()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            with self.lock:
                self.dead = True
                self.lock.notify_all()
            self.workers.shutdown(wait=False)

    def _read_loop(self) -> None:
        data: bytes | None = self.first or None
        now = self.t_first
        events: list[h2.events.Event] = []
        while True:
            if data:
                with self.lock:
                    events = self.h2.receive_data(data)
                    if events:
                        self.last_event = now
                    for event in events:
                        if self._on_event(event, now):
                            self._flush()
                            return
                    self._flush()
            elif data is not None:
                return  # end of stream
            if self.closing and self.active == 0 and not self.incoming:
                return
            try:
                data = self.t.recv(self._deadline(bool(data) and not events))
                now = time.perf_counter()
            except TimeoutError:
                if not self._expire():
                    return
                data = None

    def _deadline(self, partial: bool) -> float:
        """Idle connections close; a half-sent frame must complete like a header; open requests expire."""
        if self.closing:
            return time.perf_counter() + CLOSING_POLL_S  # look again soon whether the last answer is out
        budget = self.limits.header_timeout_s if partial else self.limits.idle_timeout_s
        deadline = self.last_event + budget
        for inc in self.incoming.values():
            deadline = min(deadline, inc.t_arrival + self.limits.header_timeout_s + self.limits.body_timeout_s)
        return deadline

    def _expire(self) -> bool:
        """Answer 408 to requests past their deadline; False when the connection itself should close."""
        now = time.perf_counter()
        late = [sid for sid, inc in self.incoming.items()
                if now >= inc.t_arrival + self.limits.header_timeout_s + self.limits.body_timeout_s]
        with self.lock:
            for sid in late:
                self._refuse(sid, 408, TIMED_OUT)
            self._flush()
        if self.active > 0:
            self.last_event = now  # answers in flight keep the connection alive
        return bool(late) or bool(self.incoming) or self.active > 0 or (self.closing and self.active > 0)

    def _on_event(self, event: h2.events.Event, now: float) -> bool:
        """Handle one event under the lock; True when the connection is over."""
        if isinstance(event, h2.events.RequestReceived):
            if self.closing:  # after GOAWAY the client starts no streams; refuse any that arrives anyway
                self.h2.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return False
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers or []}
            if "host" not in headers and ":authority" in headers:
                headers["host"] = headers[":authority"]
            self.incoming[event.stream_id] = _Incoming(headers, now)
            declared = headers.get("content-length", "0")
            if declared.isdigit() and int(declared) > self.limits.max_body_bytes:
                self._refuse(event.stream_id, 413, TOO_LARGE.format(limit=self.limits.max_body_bytes))
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            inc = self.incoming.get(event.stream_id)
            if inc is not None:
                inc.body += event.data or b""
                if len(inc.body) > self.limits.max_body_bytes:
                    self._refuse(event.stream_id, 413, TOO_LARGE.format(limit=self.limits.max_body_bytes))
        elif isinstance(event, h2.events.StreamEnded):
            inc = self.incoming.pop(event.stream_id, None)
            if inc is not None:
                self._start(event.stream_id, inc)
        elif isinstance(event, h2.events.StreamReset):
            self.incoming.pop(event.stream_id, None)
            self.gone.add(event.stream_id)
            self.lock.notify_all()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self.lock.notify_all()
        elif isinstance(event, h2.events.ConnectionTerminated):
            # GOAWAY: no new streams, but the answers in flight still go out (RFC 9113 6.8; the JS SDK closes its
            # session as soon as it has the response headers, then reads the body). h2 stops all sending once
            # it has received GOAWAY, so its connection state is put back to open for the streams in flight.
            self.closing = True
            self.h2.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
        return self.closing and self.active == 0 and not self.incoming

    def _start(self, sid: int, inc: _Incoming) -> None:
        h = inc.headers
        req = Request(h.get(":method", ""), h.get(":path", ""), h, bytes(inc.body), inc.t_arrival, "HTTP/2",
                      self.scheme, self.region)
        self.active += 1
        self.workers.submit(self._answer, sid, req)

    def _answer(self, sid: int, req: Request) -> None:
        out = Http2Responder(self, sid)
        try:
            self.dispatch(req, out)
        finally:
            if not out.ended:
                out.abort()
            with self.lock:
                self.gone.discard(sid)
                self.active -= 1

    def _refuse(self, sid: int, status: int, message: str) -> None:
        """Answer a stream-level refusal (408, 413) and tell the client to stop sending (under the lock)."""
        self.incoming.pop(sid, None)
        body = json.dumps({"message": message}).encode()
        self.h2.send_headers(sid, [(":status", str(status)), ("content-type", "application/json"),
                                   (ERROR_TYPE.lower(), "ValidationException" + NAMESPACE),
                                   ("date", http_date()), ("content-length", str(len(body)))])
        self.h2.send_data(sid, body, end_stream=True)
        with contextlib.suppress(h2.exceptions.StreamClosedError):  # closed already if the client had finished
            self.h2.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)

    # writing (answer threads)
    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.t.sendall(data)

    def send_headers(self, sid: int, status: int, headers: Headers, end: bool, body: bytes = b"") -> None:
        """HEADERS, and with `body` the DATA that ends the stream, in one write when the window allows."""
        fields = [(":status", str(status)), *((k.lower(), v) for k, v in headers), ("date", http_date())]
        with self.lock:
            self._check(sid)
            self.h2.send_headers(sid, fields, end_stream=end)
            if body:
                self.send_body(sid, body, end=True)  # the lock is re-entrant: this flushes once
            else:
                self._flush()

    def send_body(self, sid: int, data: bytes, end: bool) -> None:
        """Write DATA frames as the client's flow-control window allows."""
        view = memoryview(data)
        with self.lock:
            while True:
                self._check(sid)
                room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
                if room <= 0 and view:
                    if not self.lock.wait(SEND_TIMEOUT_S):
                        raise TimeoutError("flow-control window stayed closed")
                    continue
                n = max(0, min(room, len(view)))
                self.h2.send_data(sid, view[:n].tobytes(), end_stream=end and n == len(view))
                self._flush()
                view = view[n:]
                if not view:
                    return

    def reset(self, sid: int) -> None:
        with self.lock:
            if self.dead or sid in self.gone:
                return
            try:
                self.h2.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
                self._flush()
            except (h2.exceptions.ProtocolError, OSError):
                pass

    def _check(self, sid: int) -> None:
        if self.dead or sid in self.gone:
            raise StreamGone(f"stream {sid} is gone")


class Http2Responder:
    """Answers one stream: HEADERS then DATA frames (`content-length` on whole answers), `date` added."""

    def __init__(self, conn: Http2Connection, sid: int) -> None:
        self.c = conn
        self.sid = sid
        self.close_connection = False
        self.ended = False

    def send(self, status: int, headers: Headers, body: bytes, reset: bool = False) -> None:
        headers = [*headers, ("content-length", str(len(body)))]
        if reset:
            self.c.send_headers(self.sid, status, headers, end=False)
            self.c.send_body(self.sid, body[: len(body) // 2], end=False)
            raise ResetConnection
        self.c.send_headers(self.sid, status, headers, end=not body, body=body)
        self.ended = True

    def prepare(self, status: int, headers: Headers, body: bytes) -> Callable[[], None]:
        return functools.partial(self.send, status, headers, body)

    def start_stream(self, headers: Headers) -> None:
        self.c.send_headers(self.sid, 200, headers, end=False)

    def chunk(self, data: bytes) -> None:
        if data:
            self.c.send_body(self.sid, data, end=False)

    def end_stream(self) -> None:
        self.c.send_body(self.sid, b"", end=True)
        self.ended = True

    def abort(self) -> None:
        self.ended = True
        self.c.reset(self.sid)
