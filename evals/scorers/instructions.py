"""Verifiable instructions (IFEval-style): checks code can decide (word counts, bullets, case, JSON schema),
as one `instructions` scorer over a sample's list of checks and as one scorer per kind of check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema

from evals.scorers.registry import ScorerFn, scorer
from evals.scorers.text import extract_json, strip_markdown, words
from evals.types import Sample


def _bullets(text: str) -> list[str]:
    return re.findall(r"(?m)^\s*(?:[-*•+]|\d+[.)])\s+\S.*$", text)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if words(s)]


def _word_set(text: str) -> set[str]:
    return {w.casefold() for w in words(text)}


def check_instruction(check: Mapping[str, Any], text: str) -> bool:
    """One verifiable instruction (IFEval-style) against a response."""
    kind = check["type"]
    plain = strip_markdown(text) if kind not in ("bullet_count", "json_schema") else text
    if kind == "word_count":
        n = len(words(plain))
        return check.get("min", 0) <= n <= check.get("max", 10**9)
    if kind == "sentence_count":
        n = len(_sentences(plain))
        return check.get("min", 0) <= n <= check.get("max", 10**9)
    if kind == "bullet_count":
        return len(_bullets(text)) == check["n"]
    if kind == "paragraph_count":
        return len([p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]) == check["n"]
    if kind == "include_words":
        return all(w.casefold() in _word_set(plain) for w in check["words"])
    if kind == "forbid_words":
        return not any(w.casefold() in _word_set(plain) for w in check["words"])
    if kind == "case":
        letters_only = [c for c in text if c.isalpha()]
        if not letters_only:
            return False
        return all(c.islower() for c in letters_only) if check["case"] == "lower" else all(
            c.isupper() for c in letters_only
        )
    if kind == "starts_with":
        return plain.strip().casefold().startswith(str(check["text"]).casefold())
    if kind == "ends_with":
        return plain.strip().casefold().endswith(str(check["text"]).casefold())
    if kind == "json_schema":
        try:
            jsonschema.validate(extract_json(text), check["schema"])
        except (ValueError, jsonschema.ValidationError):
            return False
        return True
    raise KeyError(f"unknown instruction check {kind!r}")


INSTRUCTION_CHECKS = (
    "word_count", "sentence_count", "bullet_count", "paragraph_count", "include_words", "forbid_words",
    "case", "starts_with", "ends_with", "json_schema",
)


@scorer("instructions")
def instructions(sample: Sample, text: str, *, mode: str = "all", checks: Sequence[Mapping] | None = None) -> float:
    """Verifiable instructions in `sample.answer` (a list of checks): all must hold (`mode=all`) or the share held."""
    todo = list(checks if checks is not None else sample.answer or ())
    if not todo or not text.strip():
        return 0.0
    passed = [check_instruction(c, text) for c in todo]
    return float(all(passed)) if mode == "all" else sum(passed) / len(passed)


def _check_scorer(kind: str) -> ScorerFn:
    def check(sample: Sample, text: str, /, **params: Any) -> float:
        return float(check_instruction({"type": kind, **params}, text))

    check.__doc__ = f"The single instruction check {kind!r}, its parameters given in the scorer spec."
    return check


for _kind in INSTRUCTION_CHECKS:
    if _kind != "json_schema":  # `json_schema` is registered above with the same meaning
        scorer(_kind)(_check_scorer(_kind))
