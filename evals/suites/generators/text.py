"""Deterministic filler prose for haystacks and token buckets: plain words, no digits, so needles stand out."""

from __future__ import annotations

import random

WORDS_PER_TOKEN = 1 / 1.3  # the project's approximation: tokens ~= words x 1.3

_SUBJECTS = ["the river", "a farmer", "the old library", "our team", "the committee", "a traveler", "the garden",
             "the city council", "a young painter", "the market", "the weather", "an engineer", "the orchestra",
             "the village", "a small boat", "the museum", "the forest", "a teacher", "the bakery", "the lighthouse"]
_VERBS = ["described", "noticed", "remembered", "carried", "painted", "measured", "repaired", "visited",
          "studied", "followed", "discussed", "gathered", "welcomed", "admired", "planned", "collected"]
_OBJECTS = ["the quiet harbor", "a long letter", "the morning light", "several baskets of apples", "the northern road",
            "a wooden bridge", "the autumn festival", "an unusual map", "the stone wall", "a set of blue tiles",
            "the evening train", "a forgotten song", "the mountain trail", "the spring rain", "a heavy wooden chest"]
_TAILS = ["before noon", "with great care", "after the storm", "during the long winter", "without any hurry",
          "near the old mill", "for the first time", "under a grey sky", "as the bells rang", "in the usual way"]


def sentence(rng: random.Random) -> str:
    s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}."
    return s[0].upper() + s[1:]


def sentences(rng: random.Random, n_words: int) -> list[str]:
    """Sentences totalling at least `n_words` words (stops at the first sentence that reaches it)."""
    out: list[str] = []
    count = 0
    while count < n_words:
        s = sentence(rng)
        out.append(s)
        count += len(s.split())
    return out


def words_for_tokens(tokens: int) -> int:
    return max(1, round(tokens * WORDS_PER_TOKEN))
