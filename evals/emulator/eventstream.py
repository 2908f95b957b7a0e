"""AWS event-stream frame encoder (the framing of ConverseStream and InvokeModelWithResponseStream).

botocore ships only a decoder, so the encoder is written here: prelude, string headers (type 7), payload, CRC-32.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

_STRING = 7


def _headers(headers: list[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        raw_name = name.encode("utf-8")
        raw_value = value.encode("utf-8")
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One frame: total_len | headers_len | prelude_crc | headers | payload | message_crc."""
    raw_headers = _headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """A `:message-type: event` frame with a JSON payload, headers in the order Bedrock sends them."""
    return encode_frame(
        [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")],
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
    )


def exception_frame(exception_type: str, message: str) -> bytes:
    """A `:message-type: exception` frame, e.g. exception_type='modelStreamErrorException'."""
    return encode_frame(
        [
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json.dumps({"message": message}, separators=(",", ":")).encode("utf-8"),
    )
