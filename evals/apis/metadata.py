"""Harness metadata attached to every request (Converse `requestMetadata`, InvokeModel header).

One small function computes it so both APIs carry the same keys; the builders take the result as an explicit
argument. Keys and values must match the service pattern, values are at most 256 characters, at most 16 entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from evals.oracle import KEY_TARGET_OUTPUT_TOKENS, MAX_VALUE_CHARS, encode_expected
from evals.types import Request

MAX_ENTRIES = 16
KEY_REQUEST_ID = "evals.request_id"

_ALLOWED = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]*")


def _clean(value: str) -> str:
    """Replace characters the service pattern rejects, so an odd id never fails a request."""
    if _ALLOWED.fullmatch(value):
        return value
    return "".join(ch if _ALLOWED.fullmatch(ch) else "_" for ch in value)


def build_request_metadata(request: Request, oracle_text: str | None = None) -> dict[str, str]:
    """Metadata for one request.

    `oracle_text` is given only when the target is the emulator running the `oracle` engine: it rides along
    as `evals.oracle` encodes it, so the emulator can answer with it.
    """
    meta: dict[str, str] = {KEY_REQUEST_ID: _clean(request.request_id)[:MAX_VALUE_CHARS]}
    target = request.sample.meta.get("target_output_tokens")
    if target is not None:
        meta[KEY_TARGET_OUTPUT_TOKENS] = str(int(target))
    if oracle_text is not None:
        meta.update(encode_expected(oracle_text))
    return meta


def check_metadata(metadata: Mapping[str, str]) -> None:
    """Raise ValueError when metadata would be rejected by the service's own validation."""
    if len(metadata) > MAX_ENTRIES:
        raise ValueError(f"request metadata has {len(metadata)} entries (max {MAX_ENTRIES})")
    for key, value in metadata.items():
        if not key or len(key) > MAX_VALUE_CHARS or not _ALLOWED.fullmatch(key):
            raise ValueError(f"request metadata key {key!r} does not match the service pattern")
        if len(value) > MAX_VALUE_CHARS or not _ALLOWED.fullmatch(value):
            raise ValueError(f"request metadata value for {key!r} does not match the service pattern")

