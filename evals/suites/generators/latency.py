"""Fixed input/output token buckets for throughput curves.

Each item's prompt is filler of about `input` tokens (words x 1.3) and asks for a long continuation; the
output bucket is set both as `meta["max_tokens"]` (overrides the suite's max_tokens for that item) and as
`meta["target_output_tokens"]` (the emulator emits exactly that many tokens).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from evals.suites.generators.text import sentences, words_for_tokens
from evals.suites.items import Item

INPUT_TOKENS = (128, 512, 2048, 8192)
OUTPUT_TOKENS = (64, 256, 1024)


def generate(
    *,
    seed: int,
    input_tokens: Sequence[int] = INPUT_TOKENS,
    output_tokens: Sequence[int] = OUTPUT_TOKENS,
    per_cell: int = 1,
) -> list[Item]:
    """`per_cell` items per (input, output) bucket pair."""
    if not input_tokens or any(int(n) < 16 for n in input_tokens):
        raise ValueError("input_tokens: each bucket must be at least 16")
    if not output_tokens or any(int(n) < 1 for n in output_tokens):
        raise ValueError("output_tokens: each bucket must be at least 1")
    if per_cell < 1:
        raise ValueError("per_cell: must be at least 1")
    items = []
    for tin in input_tokens:
        for tout in output_tokens:
            for k in range(per_cell):
                rng = random.Random(f"latency:{seed}:{tin}:{tout}:{k}")
                text = " ".join(sentences(rng, words_for_tokens(int(tin)) - 20))
                reference = " ".join(sentences(rng, 40))
                items.append(Item(
                    id=f"in{int(tin)}-out{int(tout)}-{k}",
                    fields={"text": text, "output_tokens": int(tout)},
                    meta={"input_bucket": int(tin), "approx_tokens": int(tin), "output_bucket": int(tout),
                          "target_output_tokens": int(tout), "max_tokens": int(tout), "reference": reference},
                    cluster=f"in{int(tin)}",
                ))
    return items
