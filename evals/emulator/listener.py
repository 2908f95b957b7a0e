"""Listening sockets, the connection cap, and which protocol a new connection speaks.

One acceptor thread watches every listening socket and every accepted connection that has not sent a byte yet
(a selector, no thread each): a half-open or idle connection costs a file descriptor, not a thread. When its
first bytes arrive, the connection gets its own thread (thread per connection keeps an answer's write on the
thread that waited for its deadline) and is served as HTTP/2 when TLS negotiated "h2" or a plain connection
opens with the HTTP/2 preface (prior knowledge), else as HTTP/1.1.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from evals.emulator.exchange import Dispatch
from evals.emulator.http1 import Http1Connection
from evals.emulator.http2 import PREFACE, Http2Connection
from evals.emulator.options import Limits
from evals.emulator.transport import PlainTransport, TlsTransport

BACKLOG = 1024
SWEEP_S = 0.25  # how often idle unserved connections are looked at


@dataclass
class Site:
    """One listening socket: what it serves and how."""

    sock: socket.socket
    region: str
    scheme: str
    dispatch: Dispatch
    ssl_context: ssl.SSLContext | None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])


def listen(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def server_tls_context(base: ssl.SSLContext) -> ssl.SSLContext:
    """ALPN: HTTP/2 first, as Bedrock's endpoint offers it; HTTP/1.1 for clients without h2."""
    base.set_alpn_protocols(["h2", "http/1.1"])
    return base


class Acceptor:
    """Accepts on all sites, parks silent connections, hands talking ones to a thread each."""

    def __init__(self, sites: list[Site], limits: Limits) -> None:
        self.sites = sites
        self.limits = limits
        self.sel = selectors.DefaultSelector()
        self.parked: OrderedDict[socket.socket, tuple[Site, float]] = OrderedDict()
        self.open = 0  # parked + served connections
        self.count_lock = threading.Lock()
        self.stopping = threading.Event()
        for site in sites:
            self.sel.register(site.sock, selectors.EVENT_READ, site)
        self.thread = threading.Thread(target=self._run, name="emulator-acceptor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        for sock in list(self.parked):
            sock.close()
        for site in self.sites:
            site.sock.close()
        self.sel.close()

    def _run(self) -> None:
        while not self.stopping.is_set():
            for key, _ in self.sel.select(SWEEP_S):
                if isinstance(key.data, Site) and key.fileobj is key.data.sock:
                    self._accept(key.data)
                else:
                    self._hand_off(key.fileobj)  # type: ignore[arg-type]
            self._sweep()

    def _accept(self, site: Site) -> None:
        while True:
            try:
                conn, _ = site.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            with self.count_lock:
                full = self.open >= self.limits.max_connections
                if not full:
                    self.open += 1
            if full and not self._evict_oldest():
                _rst(conn)
                continue
            if full:
                with self.count_lock:
                    self.open += 1
            conn.setblocking(False)
            self.parked[conn] = (site, time.perf_counter())
            self.sel.register(conn, selectors.EVENT_READ, site)

    def _evict_oldest(self) -> bool:
        """Make room: close the connection that has waited longest without sending a byte."""
        if not self.parked:
            return False
        sock, _ = self.parked.popitem(last=False)
        self.sel.unregister(sock)
        _rst(sock)
        self._closed()
        return True

    def _sweep(self) -> None:
        cutoff = time.perf_counter() - self.limits.idle_timeout_s
        while self.parked:
            sock, (_, since) = next(iter(self.parked.items()))
            if since > cutoff:
                return
            self.parked.popitem(last=False)
            self.sel.unregister(sock)
            sock.close()
            self._closed()

    def _hand_off(self, sock: socket.socket) -> None:
        site, _ = self.parked.pop(sock)
        self.sel.unregister(sock)
        threading.Thread(target=self._serve, args=(sock, site), daemon=True).start()

    def _closed(self) -> None:
        with self.count_lock:
            self.open -= 1

    def _serve(self, sock: socket.socket, site: Site) -> None:
        transport: PlainTransport | None = None
        try:
            transport = self._open(sock, site)
            serve_connection(transport, site, self.limits)
        except (OSError, ssl.SSLError, TimeoutError):
            pass
        finally:
            (transport or PlainTransport(sock)).close()
            self._closed()

    def _open(self, sock: socket.socket, site: Site) -> PlainTransport:
        if site.ssl_context is None:
            return PlainTransport(sock)
        tls = TlsTransport(sock, site.ssl_context)
        tls.handshake(time.perf_counter() + self.limits.header_timeout_s)
        return tls


def serve_connection(transport: PlainTransport, site: Site, limits: Limits) -> None:
    """Pick the protocol (ALPN, or the HTTP/2 preface on a plain connection) and serve until it ends."""
    args = (transport, site.dispatch, limits, site.scheme, site.region)
    if transport.alpn == "h2":
        Http2Connection(*args).serve()
        return
    deadline = time.perf_counter() + limits.header_timeout_s
    first = transport.recv(deadline)
    t_first = time.perf_counter()
    while first and len(first) < len(PREFACE) and PREFACE.startswith(first):
        more = transport.recv(deadline)
        if not more:
            return
        first += more
    if not first:
        return
    if transport.alpn is None and first.startswith(PREFACE):
        Http2Connection(*args, first=first, t_first=t_first).serve()
    else:
        Http1Connection(*args, first=first, t_first=t_first).serve()


def _rst(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.close()
