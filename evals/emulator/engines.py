"""Answer generators: `synthetic` (seeded filler text), `echo` (the user's text) and `oracle` (expected answer).

All engines are pure functions of (seed, model, canonical request, metadata) so runs are reproducible.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from evals.cards import ModelCard
from evals.emulator import tokenizer
from evals.emulator.options import EmulatorOptions
from evals.emulator.validation import GenRequest
from evals.oracle import KEY_TARGET_OUTPUT_TOKENS, ORACLE_WRONG_TEXT, answers_right, decode_expected

NATURAL_MEDIAN_TOKENS = 150
NATURAL_SIGMA = 0.6

# Plain filler words (each at most 7 letters, so one token each): honest synthetic text, not a model's answer.
_WORDS = (
    "the", "a", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "on", "was",
    "by", "this", "be", "are", "from", "at", "or", "an", "which", "have", "not", "data", "model",
    "answer", "result", "value", "point", "case", "time", "part", "method", "example", "system",
    "number", "process", "common", "simple", "general", "small", "large", "first", "second",
    "other", "useful", "likely", "often", "usually", "however", "because", "measure", "sample",
    "report", "detail", "context", "summary", "reason", "output", "input", "request", "signal",
    "pattern",
)


@dataclass(frozen=True)
class Generation:
    text: str
    output_tokens: int
    stop_reason: str  # end_turn | max_tokens | stop_sequence

    def pieces(self) -> list[str]:
        """Token pieces for streaming; their concatenation is the text (leading spaces kept)."""
        return [p for p in tokenizer.pieces(self.text) if not p.isspace()]


def _target_tokens(metadata: dict[str, str]) -> int | None:
    raw = metadata.get(KEY_TARGET_OUTPUT_TOKENS)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _bounded(text: str, req: GenRequest, limit: int, natural_stop: str = "end_turn") -> Generation:
    """Apply stop sequences (earliest wins) then the max-token bound."""
    stop = natural_stop
    cut = min((i for i in (text.find(s) for s in req.stop_sequences) if i >= 0), default=-1)
    if cut >= 0:
        text, stop = text[:cut], "stop_sequence"
    text, truncated = tokenizer.truncate(text, limit)
    if truncated:
        stop = "max_tokens"
    return Generation(text, tokenizer.count(text), stop)


def synthetic_text(rng: random.Random, n_tokens: int) -> str:
    """Exactly `n_tokens` tokens of filler sentences (each word and each full stop is one token)."""
    words = rng.choices(_WORDS, k=n_tokens)
    out: list[str] = []
    i = 0
    sentences = 0
    while i < n_tokens:
        length = rng.randint(6, 16)
        sep = "" if i == 0 else ("\n\n" if sentences % 4 == 0 else " ")
        out.append(sep + words[i].capitalize())
        body = words[i + 1 : min(i + length, n_tokens)]
        if body:
            out.append(" " + " ".join(body))
        i += 1 + len(body)
        if i < n_tokens:
            out.append(".")
            i += 1
        sentences += 1
    return "".join(out)


class Engine:
    """Picks the answer for a validated request."""

    def __init__(self, kind: str, seed: int, oracle_accuracy: float = EmulatorOptions.oracle_accuracy) -> None:
        self.kind = kind
        self.seed = seed
        self.oracle_accuracy = oracle_accuracy

    def generate(self, card: ModelCard, req: GenRequest) -> Generation:
        limit = req.max_tokens if req.max_tokens is not None else card.max_output_tokens
        if self.kind == "echo":
            return _bounded(req.user_text, req, limit)
        if self.kind == "oracle":
            expected = decode_expected(req.metadata)
            if expected is not None:
                right = answers_right(self.seed, req.canonical, req.metadata, self.oracle_accuracy)
                return _bounded(expected if right else ORACLE_WRONG_TEXT, req, limit)
        return self._synthetic(req, limit)

    def _synthetic(self, req: GenRequest, limit: int) -> Generation:
        rng = random.Random(int(req.canonical[:24], 16) ^ self.seed)
        target = _target_tokens(req.metadata)
        if target is None:
            natural = round(math.exp(rng.gauss(math.log(NATURAL_MEDIAN_TOKENS), NATURAL_SIGMA)))
            natural = max(1, natural)
        else:
            natural = target
        n = min(natural, limit)
        text = synthetic_text(rng, n)
        stop = "max_tokens" if natural > limit else "end_turn"
        if not req.stop_sequences:
            return Generation(text, n, stop)  # exactly n tokens by construction
        return _bounded(text, req, limit, stop)
