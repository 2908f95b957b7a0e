"""Bytes in and out of one accepted connection, plain or TLS, with read deadlines.

Reads wait with poll() instead of a socket timeout, so a reader's deadline never cuts a concurrent write (HTTP/2
answers streams from several threads while one thread reads). TLS runs over memory BIOs under one lock: an
OpenSSL connection object must not be used by two threads at once, and this way reading never blocks writing.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import threading
import time

READ_SIZE = 65536
SEND_TIMEOUT_S = 30.0  # a client that stops reading cannot hold a writer longer than this


def _wait_readable(poller: select.poll, deadline: float | None) -> None:
    """Block until the polled socket has bytes (or EOF); TimeoutError at the perf_counter `deadline`."""
    while True:
        wait_ms = None if deadline is None else max(0, int((deadline - time.perf_counter()) * 1000) + 1)
        if poller.poll(wait_ms):
            return
        if deadline is not None and time.perf_counter() >= deadline:
            raise TimeoutError("read deadline passed")


class PlainTransport:
    """A TCP connection (TCP_NODELAY, bounded send time)."""

    alpn: str | None = None

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(SEND_TIMEOUT_S), 0))
        self.sock = sock
        self._send_lock = threading.Lock()
        self._poller = select.poll()  # only the reading thread polls
        self._poller.register(sock, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)

    def recv(self, deadline: float | None) -> bytes:
        """The next bytes (b"" at end of stream); TimeoutError when nothing came by `deadline`."""
        _wait_readable(self._poller, deadline)
        return self.sock.recv(READ_SIZE)

    def sendall(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def rst(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), as a crashed or reset peer would."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class TlsTransport(PlainTransport):
    """TLS over memory BIOs; `handshake` first, then `alpn` names the negotiated protocol."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        super().__init__(sock)
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_side=True)
        self._lock = threading.Lock()  # guards the TLS object, both BIOs and the socket's sends

    def _flush(self) -> None:
        pending = self._out.read()
        if pending:
            self.sock.sendall(pending)

    def handshake(self, deadline: float) -> None:
        while True:
            with self._lock:
                try:
                    self._tls.do_handshake()
                    self._flush()
                    self.alpn = self._tls.selected_alpn_protocol()
                    return
                except ssl.SSLWantReadError:
                    self._flush()
            if not self._feed(deadline):
                raise ConnectionError("closed during the TLS handshake")

    def _feed(self, deadline: float | None) -> bool:
        _wait_readable(self._poller, deadline)
        raw = self.sock.recv(READ_SIZE)
        with self._lock:
            if raw:
                self._in.write(raw)
            else:
                self._in.write_eof()
        return bool(raw)

    def recv(self, deadline: float | None) -> bytes:
        while True:
            with self._lock:
                try:
                    data = self._tls.read(READ_SIZE)
                    self._flush()
                    return data
                except ssl.SSLWantReadError:
                    self._flush()
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""
            if not self._feed(deadline):
                with self._lock:
                    try:
                        return self._tls.read(READ_SIZE)
                    except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        return b""

    def sendall(self, data: bytes) -> None:
        with self._lock:
            self._tls.write(data)
            self._flush()
