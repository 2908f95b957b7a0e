"""A small HTTP/2 client over the `h2` library, for checking the emulator's HTTP/2 side from Python.

Prior knowledge on plain HTTP, ALPN "h2" over TLS; optionally SigV4-signed by botocore with `:authority`
among the signed headers (as the AWS SDK for JavaScript signs over HTTP/2).
"""

from __future__ import annotations

import json
import socket
import ssl
from typing import Any
from urllib.parse import quote, urlsplit

import h2.config
import h2.connection
import h2.events
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class H2Client:
    def __init__(self, endpoint: str, ca_file: str | None = None) -> None:
        parts = urlsplit(endpoint)
        self.authority = parts.netloc
        raw = socket.create_connection((parts.hostname, parts.port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if parts.scheme == "https":
            ctx = ssl.create_default_context(cafile=ca_file)
            ctx.set_alpn_protocols(["h2"])
            self.sock: socket.socket = ctx.wrap_socket(raw, server_hostname=parts.hostname)
            assert self.sock.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]
        else:
            self.sock = raw
        self.scheme = parts.scheme
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def request(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        sid = self.conn.get_next_available_stream_id()
        fields = [(":method", "POST"), (":path", path), (":scheme", self.scheme), (":authority", self.authority),
                  *((k.lower(), v) for k, v in headers.items() if k.lower() not in (":authority", "host"))]
        self.conn.send_headers(sid, fields, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        status, out_headers, data = 0, {}, bytearray()
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            for event in self.conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == sid:
                    out_headers = {str(k): str(v) for k, v in event.headers}
                    status = int(out_headers[":status"])
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == sid:
                    data += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset) and event.stream_id == sid:
                    self.sock.sendall(self.conn.data_to_send())
                    return status, out_headers, bytes(data)
            self.sock.sendall(self.conn.data_to_send())

    def close(self) -> None:
        self.sock.close()


def signed_headers(endpoint: str, path: str, body: bytes, region: str, creds: dict[str, str],
                   extra: dict[str, str] | None = None, http2: bool = True) -> dict[str, str]:
    """botocore's SigV4 headers; over HTTP/2 the request carries `:authority` (signed beside `host`), over
    HTTP/1.1 a `Host` header."""
    authority = urlsplit(endpoint).netloc
    first = {":authority": authority} if http2 else {"Host": authority}
    req = AWSRequest("POST", endpoint + path, data=body,
                     headers={"Content-Type": "application/json", **first, **(extra or {})})
    SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"]), "bedrock", region).add_auth(req)
    return dict(req.headers.items())


def model_path(model_id: str, op: str) -> str:
    return f"/model/{quote(model_id, safe='')}/{op}"


def json_body(payload: Any) -> bytes:
    return json.dumps(payload).encode()
