"""What the protocol layers hand to the operations and get back: a parsed request and a responder.

HTTP/1.1 (`http1.py`) and HTTP/2 (`http2.py`) both turn bytes into a `Request` and implement `Responder`;
the operations never see which protocol carried a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

Headers = list[tuple[str, str]]


class ResetConnection(Exception):
    """Raised to cut a response short (connection_reset fault): a TCP RST on HTTP/1.1, RST_STREAM on HTTP/2."""


@dataclass
class Request:
    """One parsed request. Header names are lower-case; HTTP/2 pseudo-headers keep their colon."""

    method: str
    path: str  # the raw request target, query included
    headers: dict[str, str]
    body: bytes
    t_arrival: float  # perf_counter when its first bytes were read: injected latency runs from here
    protocol: str  # "HTTP/1.1" or "HTTP/2"
    scheme: str  # "https" or "http"
    region: str  # the listener's region ("" for the admin listener)


class Responder(Protocol):
    """How an operation answers; the protocol layer adds `Date` and framing (length, chunks or DATA frames)."""

    close_connection: bool

    def send(self, status: int, headers: Headers, body: bytes, reset: bool = False) -> None:
        """Write a whole response at once; with `reset`, write half the body and raise ResetConnection."""

    def prepare(self, status: int, headers: Headers, body: bytes) -> Callable[[], None]:
        """Frame a whole response now and return what writes it: an answer due at a deadline is framed before
        the wait, so its bytes leave as the deadline passes (HTTP/2 encodes its headers at the write, as HPACK
        state must follow the order on the wire)."""

    def start_stream(self, headers: Headers) -> None:
        """Write a 200 head whose body follows in `chunk` calls."""

    def chunk(self, data: bytes) -> None:
        """Write part of a streamed body now."""

    def end_stream(self) -> None:
        """Finish a streamed body."""

    def abort(self) -> None:
        """Cut the response off: RST the TCP connection (HTTP/1.1) or the stream (HTTP/2)."""


Dispatch = Callable[[Request, Responder], None]
