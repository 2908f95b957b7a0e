"""Scorers that match a response against the sample's accepted answers: exact, normalised, numeric, letters,
substrings, token F1, JSON schema. Only successful responses are scored; an empty answer simply scores 0.0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema

from evals.scorers.registry import get_scorer, scorer
from evals.scorers.text import (
    answer_candidates,
    choice_letter,
    extract_json,
    final_number,
    normalize,
    numbers_in,
    strip_markdown,
)
from evals.types import Sample


def _answers(sample: Sample, value: Any = None) -> list[Any]:
    """Accepted answers: an explicit parameter, else the sample's answer; a list means any of them."""
    got = sample.answer if value is None else value
    if got is None:
        return []
    return list(got) if isinstance(got, list | tuple) else [got]


@scorer("exact")
def exact(sample: Sample, text: str, *, value: Any = None, strip: bool = True) -> float:
    """Byte-for-byte match (surrounding whitespace ignored unless strip is false)."""
    got = text.strip() if strip else text
    return float(any(got == (str(a).strip() if strip else str(a)) for a in _answers(sample, value)))


@scorer("normalized_exact")
def normalized_exact(sample: Sample, text: str, *, value: Any = None, lenient: bool = False) -> float:
    """Match after `normalize`: case, whitespace, markdown, surrounding quotes, trailing punctuation.

    `lenient` also accepts a match after a final 'answer is' marker or on the last line, for prompts whose
    model may show its working first.
    """
    wanted = {normalize(str(a)) for a in _answers(sample, value)}
    candidates = answer_candidates(text) if lenient else [text]
    return float(any((got := normalize(c)) and got in wanted for c in candidates))


@scorer("regex")
def regex(sample: Sample, text: str, *, pattern: str, group: int | str = 1, ignore_case: bool = True) -> float:
    """Extract with `pattern` (last match wins) and compare the group normalized; no answer: match means 1."""
    flags = re.I if ignore_case else 0
    matches = list(re.finditer(pattern, text, flags | re.S))
    if not matches:
        return 0.0
    answers = _answers(sample)
    if not answers:
        return 1.0
    m = matches[-1]
    got = m.group(group) if m.re.groups else m.group(0)
    return float(got is not None and any(normalize(got) == normalize(str(a)) for a in answers))


@scorer("numeric")
def numeric(
    sample: Sample, text: str, *, value: Any = None, abs_tol: float = 1e-6, rel_tol: float = 0.0, pick: str = "final"
) -> float:
    """Numeric match within max(abs_tol, rel_tol*|answer|); `pick` is final (marker or last number) or any."""
    targets = [float(a) if isinstance(a, int | float) else nums[0]
               for a in _answers(sample, value) if isinstance(a, int | float) or (nums := numbers_in(str(a)))]
    if pick == "any":
        got = numbers_in(strip_markdown(text))
    else:
        final = final_number(text)
        got = [] if final is None else [final]
    return float(any(abs(g - t) <= max(abs_tol, rel_tol * abs(t)) for g in got for t in targets))


@scorer("choice")
def choice(sample: Sample, text: str, *, letters: str = "ABCD", value: Any = None) -> float:
    """Multiple-choice letter: tolerant of prose and markdown; ambiguous answers score 0."""
    got = choice_letter(text, letters)
    return float(got is not None and any(got == str(a).strip().upper() for a in _answers(sample, value)))


@scorer("contains")
def contains(sample: Sample, text: str, *, value: Any = None, ignore_case: bool = True) -> float:
    """Any accepted answer appears in the response (after markdown is stripped)."""
    hay = strip_markdown(text)
    hay = hay.casefold() if ignore_case else hay
    needles = [str(a).casefold() if ignore_case else str(a) for a in _answers(sample, value)]
    return float(any(n and n in hay for n in needles))


@scorer("all_of")
def all_of(sample: Sample, text: str, *, values: Sequence[str] | None = None, ignore_case: bool = True) -> float:
    """Every listed string (or every element of a list answer) appears in the response."""
    needles = list(values) if values is not None else _answers(sample)
    hay = strip_markdown(text)
    hay = hay.casefold() if ignore_case else hay
    return float(bool(needles) and all((str(n).casefold() if ignore_case else str(n)) in hay for n in needles))


def _f1_tokens(text: str) -> list[str]:
    text = normalize(text).translate(str.maketrans("", "", string.punctuation))
    return [t for t in text.split() if t not in {"a", "an", "the"}]


@scorer("token_f1")
def token_f1(sample: Sample, text: str, *, value: Any = None) -> float:
    """SQuAD-style token F1 against the best accepted answer (articles and punctuation ignored)."""
    got = _f1_tokens(text)
    best = 0.0
    for answer in _answers(sample, value):
        want = _f1_tokens(str(answer))
        common = sum((Counter(got) & Counter(want)).values())
        if common:
            p, r = common / len(got), common / len(want)
            best = max(best, 2 * p * r / (p + r))
    return best


@scorer("json_schema")
def json_schema(sample: Sample, text: str, *, schema: Mapping[str, Any] | None = None) -> float:
    """The response holds JSON (fenced or bare) valid against `schema` (default: the sample's answer)."""
    schema = schema if schema is not None else sample.answer
    if not isinstance(schema, Mapping):
        return 0.0
    try:
        jsonschema.validate(extract_json(text), schema)
    except (ValueError, jsonschema.ValidationError):
        return 0.0
    return 1.0


@scorer("nonempty")
def nonempty(sample: Sample, text: str) -> float:
    """Any visible text at all: the quality bar of throughput suites, where only the answer's arrival matters."""
    return float(bool(text.strip()))


@scorer("per_item")
def per_item(sample: Sample, text: str, *, default: str = "normalized_exact") -> float:
    """Score with `sample.meta['scorer']` (name) and `sample.meta['scorer_params']`, so one suite mixes kinds."""
    name = str(sample.meta.get("scorer") or default)
    params = dict(sample.meta.get("scorer_params") or {})
    return get_scorer(name)(sample, text, **params)
