"""Needle in a haystack: a passphrase hidden at chosen depths of filler text of chosen lengths.

Lengths are approximate tokens (words x 1.3). One haystack per length is shared by its depths, so items of a
length form a cluster; each item hides its own passphrase so answers cannot carry over between items.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from evals.suites.generators.text import sentences, words_for_tokens
from evals.suites.items import Item

LENGTHS = (1000, 8000, 32000, 128000)
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
_ADJ = ["amber", "silver", "crimson", "quiet", "hollow", "bright", "frozen", "golden", "velvet", "distant"]
_NOUN = ["falcon", "harbor", "lantern", "meadow", "comet", "willow", "anchor", "prism", "canyon", "ember"]


def generate(*, seed: int, lengths: Sequence[int] = LENGTHS, depths: Sequence[float] = DEPTHS) -> list[Item]:
    """One item per (length, depth); the needle sits at the sentence boundary nearest the depth."""
    if not lengths or any(int(n) < 100 for n in lengths):
        raise ValueError("lengths: each must be at least 100 tokens")
    if not depths or any(not 0.0 <= float(d) <= 1.0 for d in depths):
        raise ValueError("depths: each must be between 0 and 1")
    items = []
    for length in lengths:
        rng = random.Random(f"long-context:{seed}:{length}")
        hay = sentences(rng, words_for_tokens(int(length)))
        for depth in depths:
            phrase = f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}-{rng.randint(1000, 9999)}"
            needle = f"The secret passphrase for the vault is {phrase}."
            at = round(float(depth) * len(hay))
            document = " ".join([*hay[:at], needle, *hay[at:]])
            items.append(Item(
                id=f"len{int(length)}-depth{round(float(depth) * 100):03d}",
                fields={"document": document},
                answer=phrase,
                meta={"approx_tokens": int(length), "depth": float(depth)},
                cluster=f"len{int(length)}",
            ))
    return items
