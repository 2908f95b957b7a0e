"""The oracle contract, shared by the harness and the emulator's `oracle` engine and defined only here.

The harness hands the emulator a sample's expected answer in the request metadata, base64-encoded in chunks
`evals.expected_b64.0..13` (metadata values are at most 256 characters, at most 16 entries per request); the
engine decodes it and answers with it when a seeded draw falls below `oracle_accuracy`, else with
`ORACLE_WRONG_TEXT`. The draw is a hash of (seed, canonical request, metadata), so a run is reproducible and
the same request gets the same answer in any process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

KEY_EXPECTED_PREFIX = "evals.expected_b64."
KEY_TARGET_OUTPUT_TOKENS = "evals.target_output_tokens"
MAX_VALUE_CHARS = 256  # the service's limit on one metadata value
MAX_EXPECTED_CHUNKS = 14  # 16 entries, less the request id and the target output tokens
# Bytes of text that fit in the expected-answer chunks once base64-encoded (3 bytes -> 4 chars).
MAX_EXPECTED_BYTES = MAX_EXPECTED_CHUNKS * MAX_VALUE_CHARS // 4 * 3
ORACLE_WRONG_TEXT = "This is a deliberately wrong answer from the emulator's oracle engine."


def _truncate_utf8(text: str, max_bytes: int) -> bytes:
    """UTF-8 bytes of `text`, cut at a character boundary so the emulator can always decode them."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return data
    return data[:max_bytes].decode("utf-8", errors="ignore").encode("utf-8")


def encode_expected(text: str) -> dict[str, str]:
    """The metadata entries that carry `text`; text longer than the chunks hold (2,688 bytes) is cut."""
    encoded = base64.b64encode(_truncate_utf8(text, MAX_EXPECTED_BYTES)).decode("ascii")
    chunks = [encoded[i : i + MAX_VALUE_CHARS] for i in range(0, len(encoded), MAX_VALUE_CHARS)] or [""]
    return {f"{KEY_EXPECTED_PREFIX}{i}": chunk for i, chunk in enumerate(chunks)}


def decode_expected(metadata: Mapping[str, str]) -> str | None:
    """Concatenate the chunks in numeric order and decode them; None when absent or not valid base64 UTF-8."""
    chunks = []
    for key, value in metadata.items():
        if key.startswith(KEY_EXPECTED_PREFIX) and key[len(KEY_EXPECTED_PREFIX):].isdigit():
            chunks.append((int(key[len(KEY_EXPECTED_PREFIX):]), value))
    if not chunks:
        return None
    try:
        return base64.b64decode("".join(v for _, v in sorted(chunks)), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def answers_right(seed: int, canonical: str, metadata: Mapping[str, str], accuracy: float) -> bool:
    """Whether the oracle gives the expected answer: a uniform draw from a hash, below `accuracy`."""
    parts = (seed, "oracle", canonical, sorted(metadata.items()))
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()  # stable across processes
    return int.from_bytes(digest[:8], "big") / 2**64 < accuracy
