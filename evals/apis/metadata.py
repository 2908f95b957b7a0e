"""Harness metadata attached to every request (Converse `requestMetadata`, InvokeModel header).

One small function computes it so both APIs carry the same keys; the builders take the result as an explicit
argument. Keys and values must match the service pattern, values are at most 256 characters, at most 16 entries.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from evals.types import Request

MAX_ENTRIES = 16
MAX_VALUE_CHARS = 256
MAX_EXPECTED_CHUNKS = 14
KEY_REQUEST_ID = "evals.request_id"
KEY_TARGET_OUTPUT_TOKENS = "evals.target_output_tokens"
KEY_EXPECTED_PREFIX = "evals.expected_b64."

_ALLOWED = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]*")
# Bytes of text that fit in the expected-answer chunks once base64-encoded (3 bytes -> 4 chars).
MAX_EXPECTED_BYTES = MAX_EXPECTED_CHUNKS * MAX_VALUE_CHARS // 4 * 3


def _clean(value: str) -> str:
    """Replace characters the service pattern rejects, so an odd id never fails a request."""
    if _ALLOWED.fullmatch(value):
        return value
    return "".join(ch if _ALLOWED.fullmatch(ch) else "_" for ch in value)


def _truncate_utf8(text: str, max_bytes: int) -> bytes:
    """UTF-8 bytes of `text`, cut at a character boundary so the emulator can always decode them."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return data
    return data[:max_bytes].decode("utf-8", errors="ignore").encode("utf-8")


def build_request_metadata(request: Request, oracle_text: str | None = None) -> dict[str, str]:
    """Metadata for one request.

    `oracle_text` is given only when the target is the emulator running the `oracle` engine: it rides along
    base64-encoded in chunks `evals.expected_b64.0..13` so the emulator can answer with it. Text longer than
    the 14 chunks hold (2,688 UTF-8 bytes) is cut at a character boundary.
    """
    meta: dict[str, str] = {KEY_REQUEST_ID: _clean(request.request_id)[:MAX_VALUE_CHARS]}
    target = request.sample.meta.get("target_output_tokens")
    if target is not None:
        meta[KEY_TARGET_OUTPUT_TOKENS] = str(int(target))
    if oracle_text is not None:
        encoded = base64.b64encode(_truncate_utf8(oracle_text, MAX_EXPECTED_BYTES)).decode("ascii")
        chunks = [encoded[i : i + MAX_VALUE_CHARS] for i in range(0, len(encoded), MAX_VALUE_CHARS)] or [""]
        for i, chunk in enumerate(chunks):
            meta[f"{KEY_EXPECTED_PREFIX}{i}"] = chunk
    return meta


def decode_expected(metadata: Mapping[str, str]) -> str | None:
    """Inverse of the expected-answer chunking (what an oracle engine does with the metadata)."""
    chunks = []
    i = 0
    while f"{KEY_EXPECTED_PREFIX}{i}" in metadata:
        chunks.append(metadata[f"{KEY_EXPECTED_PREFIX}{i}"])
        i += 1
    if not chunks:
        return None
    return base64.b64decode("".join(chunks)).decode("utf-8")


def check_metadata(metadata: Mapping[str, str]) -> None:
    """Raise ValueError when metadata would be rejected by the service's own validation."""
    if len(metadata) > MAX_ENTRIES:
        raise ValueError(f"request metadata has {len(metadata)} entries (max {MAX_ENTRIES})")
    for key, value in metadata.items():
        if not key or len(key) > MAX_VALUE_CHARS or not _ALLOWED.fullmatch(key):
            raise ValueError(f"request metadata key {key!r} does not match the service pattern")
        if len(value) > MAX_VALUE_CHARS or not _ALLOWED.fullmatch(value):
            raise ValueError(f"request metadata value for {key!r} does not match the service pattern")

