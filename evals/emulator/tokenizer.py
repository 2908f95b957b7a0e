"""The emulator's one deterministic tokenizer (~1.3 tokens per English word) and image token counts.

Not a real model tokenizer: counts are stable, cheap and plausible, which is all token accounting needs here.
Rules: a special token `<|...|>` is 1 token; a word is 1 token per started 7 characters; every other
non-space character is 1 token; whitespace attaches to the next token.
"""

from __future__ import annotations

import math
import re

_PIECE = re.compile(r"\s*(?:<\|[a-z_0-9]+\|>|\w{1,7}|[^\w\s])|\s+$", re.UNICODE)

TILE_PX = 336
TOKENS_PER_TILE = 144


def pieces(text: str) -> list[str]:
    """Split text into token pieces whose concatenation is exactly `text`."""
    return _PIECE.findall(text)


def count(text: str) -> int:
    """Number of tokens in `text` (trailing whitespace is not a token)."""
    return sum(1 for p in _PIECE.findall(text) if not p.isspace())


def truncate(text: str, max_tokens: int) -> tuple[str, bool]:
    """The first `max_tokens` tokens of `text` and whether anything was cut."""
    out: list[str] = []
    n = 0
    for p in _PIECE.findall(text):
        if p.isspace():
            continue
        if n == max_tokens:
            return "".join(out), True
        out.append(p)
        n += 1
    return "".join(out), False


def image_tokens(width: int, height: int) -> int:
    """Tokens for one image: 144 per 336-px tile, plus one overview tile when the image needs several."""
    tiles = math.ceil(width / TILE_PX) * math.ceil(height / TILE_PX)
    return TOKENS_PER_TILE * (tiles + (1 if tiles > 1 else 0))
