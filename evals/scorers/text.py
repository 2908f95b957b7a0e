"""Reading an answer out of free text: markdown stripped, normalised forms, numbers, JSON, option letters.

Shared by the scorers and the suite generators, so a generated reference answer is read the way it is scored.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any

_FENCE = re.compile(r"```[ \t]*[\w+-]*[ \t]*\n?(.*?)```", re.S)
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(.+?)\1", re.S)
_QUOTES = "\"'`“”‘’«»"
_TRAILING = ".,;:!?。"


def strip_markdown(text: str) -> str:
    """Drop code fences (keeping their content), emphasis markers and leading heading/quote marks."""
    text = _FENCE.sub(lambda m: m.group(1), text)
    prev = None
    while prev != text:
        prev, text = text, _EMPHASIS.sub(lambda m: m.group(2), text)
    return re.sub(r"(?m)^\s*(#{1,6}|>)\s*", "", text)


def normalize(text: str) -> str:
    """Case-, whitespace-, markdown-, quote- and trailing-punctuation-insensitive form of an answer."""
    text = strip_markdown(str(text)).strip()
    prev = None
    while prev != text:
        prev = text
        text = text.strip().rstrip(_TRAILING).strip()
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text[1:-1]
    return " ".join(text.casefold().split())


_NUMBER = re.compile(
    r"(?<![\w.])([-−–]?)\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:\s*/\s*(\d+)(?![\d.]))?(\s*%)?"
)
_FINAL_MARKER = re.compile(r"(?i)(?:answer|result|total|final)\s*(?:is|:|=|was)|=|\\boxed\{")


def numbers_in(text: str) -> list[float]:
    """Numbers in prose: thousands separators, negatives (also unicode minus), fractions a/b, percent as-is."""
    out = []
    for sign, num, denom, _pct in _NUMBER.findall(text):
        value = Fraction(num.replace(",", ""))
        if denom:
            if int(denom) == 0:
                continue
            value /= int(denom)
        out.append(float(-value if sign else value))
    return out


def final_number(text: str) -> float | None:
    """The number after the last 'answer is' / '=' marker, else the last number in the text."""
    text = strip_markdown(text)
    markers = list(_FINAL_MARKER.finditer(text))
    if markers:
        after = numbers_in(text[markers[-1].end() :])
        if after:
            return after[0]
    found = numbers_in(text)
    return found[-1] if found else None


def extract_json(text: str) -> Any:
    """The JSON value in a response: a fenced block first, else the first balanced object or array."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        candidate = candidate.strip()
        try:
            return json.loads(candidate)
        except ValueError:
            pass
        decoder = json.JSONDecoder()
        for i, ch in enumerate(candidate):
            if ch in "{[":
                try:
                    return decoder.raw_decode(candidate[i:])[0]
                except ValueError:
                    continue
    raise ValueError("no JSON value found")


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9À-ÿ]+(?:['’-][A-Za-z0-9À-ÿ]+)*", text)


_ANSWER_MARKER = re.compile(r"(?i)\b(?:final answer|answer)\b\s*(?:is|:)\s*")


def answer_candidates(text: str) -> list[str]:
    """The whole response, the text after the last 'answer is/answer:' marker, and the last non-empty line."""
    out = [text]
    markers = list(_ANSWER_MARKER.finditer(text))
    if markers:
        out.append(text[markers[-1].end() :].strip().splitlines()[0] if text[markers[-1].end() :].strip() else "")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1:
        out.append(lines[-1])
    return out


_LETTER_MARKER = re.compile(
    r"(?i)\b(?:answer|choice|option)\b(?:\s+(?:is|would be|should be))?\s*[:\-]?\s*(?:(?:option|choice)\s+)?"
)


def choice_letter(text: str, letters: str = "ABCD") -> str | None:
    """The single option letter a response commits to; None when there is none or more than one."""
    up = re.escape(letters.upper())
    lo = re.escape(letters.lower())
    body = strip_markdown(text).strip()
    alone = re.fullmatch(rf"[\(\[]?([{up}{lo}])[\)\]]?[.):]?", body)
    if alone:
        return alone.group(1).upper()
    lead = re.match(rf"[\(\[]?([{up}{lo}])(?:[\)\]][.:]?|[.):])(?:\s|$)", body)
    if lead:
        return lead.group(1).upper()
    letter_here = rf"(?:[\(\[]([{up}{lo}])[\)\]]|([{up}])\b|([{lo}])(?=[.):]?\s*$|[.)]))"
    for marker in reversed(list(_LETTER_MARKER.finditer(body))):
        rest = body[marker.end() :]
        m = re.match(letter_here, rest)
        if m:
            tail = rest[m.end() :]
            if re.match(rf"\s*(?:,|/|&|\bor\b|\band\b)\s*[\(\[]?[{up}]\b", tail, re.I):
                return None
            return next(g for g in m.groups() if g).upper()
    found = {g.upper() for g in re.findall(rf"[\(\[]([{up}{lo}])[\)\]]", body)}
    if not found:
        standalone = re.finditer(rf"(?<![\w'’-])([{up}])(?![\w'’-])", body)
        # a capital "A" followed by a lowercase word is the article, not an option
        found = {m.group(1) for m in standalone
                 if not (m.group(1) == "A" and re.match(r"\s+(?!or\b|and\b)[a-z]", body[m.end():]))}
    return found.pop() if len(found) == 1 else None
