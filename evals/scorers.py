"""Scorers: pure functions `(sample, text, **params) -> float in [0, 1]`, registered by name with `@scorer`.

Only successful responses are scored; an empty answer simply scores 0.0. Parameters come from the suite's
`ScorerSpec`, and `per_item` lets one suite mix answer kinds (numbers, words, letters) by reading the scorer
named in each sample's `meta`.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jsonschema

from evals.errors import UserInputError
from evals.run.judge import JudgeUnavailable
from evals.types import Sample, ScorerSpec

ScorerFn = Callable[..., float]

_REGISTRY: dict[str, ScorerFn] = {}
JUDGE = "judge"  # scored by a JudgeScorer the run engine builds; not a pure function


def scorer(name: str) -> Callable[[ScorerFn], ScorerFn]:
    """Register a scorer under `name` (used in suite YAML as `scorers: [{name: ...}]`)."""

    def register(fn: ScorerFn) -> ScorerFn:
        if name in _REGISTRY:
            raise ValueError(f"scorer {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return register


def get_scorer(name: str) -> ScorerFn:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted([*_REGISTRY, JUDGE]))
        raise KeyError(f"unknown scorer {name!r} (known: {known})") from None


def scorer_names() -> tuple[str, ...]:
    return tuple(sorted([*_REGISTRY, JUDGE]))


def _accepted_params(fn: ScorerFn) -> set[str] | None:
    """Keyword parameters a scorer takes; None when it takes **kwargs."""
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {n for n, p in list(sig.parameters.items())[2:] if p.kind is p.KEYWORD_ONLY}


def validate_scorer_specs(specs: Sequence[ScorerSpec], origin: str) -> None:
    """Fail before any request is sent when a suite names an unknown scorer or passes a parameter it lacks."""
    for i, spec in enumerate(specs):
        key = f"{origin}: scorers[{i}]"
        if spec.name == JUDGE:
            if not isinstance(spec.params.get("rubric", ""), str):
                raise UserInputError(f"{key}: judge rubric must be a string")
            continue
        if spec.name not in _REGISTRY:
            raise UserInputError(f"{key}: unknown scorer {spec.name!r} (known: {', '.join(scorer_names())})")
        accepted = _accepted_params(_REGISTRY[spec.name])
        if accepted is not None:
            unknown = sorted(set(spec.params) - accepted)
            if unknown:
                raise UserInputError(
                    f"{key}: scorer {spec.name!r} has no parameter {unknown[0]!r} "
                    f"(takes: {', '.join(sorted(accepted)) or 'none'})"
                )
        if spec.name in INSTRUCTION_CHECKS and spec.name != "json_schema":
            try:
                check_instruction({"type": spec.name, **spec.params}, "probe")
            except KeyError as err:
                raise UserInputError(f"{key}: scorer {spec.name!r} needs parameter {err.args[0]!r}") from None
        if spec.name == "regex":
            pattern = spec.params.get("pattern")
            if not isinstance(pattern, str):
                raise UserInputError(f"{key}: scorer 'regex' needs a string 'pattern'")
            try:
                re.compile(pattern)
            except re.error as err:
                raise UserInputError(f"{key}: bad regex pattern: {err}") from None


def score_response(
    specs: Sequence[ScorerSpec],
    sample: Sample,
    text: str,
    judge: Callable[..., float] | None = None,
) -> dict[str, float]:
    """Every scorer's value by name, in spec order (the first is the primary score).

    A repeated scorer name gets a `#2`, `#3` suffix. `judge` is the run engine's JudgeScorer, needed only when a
    spec is named `judge`.
    """
    out: dict[str, float] = {}
    for spec in specs:
        if spec.name == JUDGE:
            if judge is None:
                raise UserInputError("scorer 'judge' needs a judge model configured")
            value = judge(sample, text, **dict(spec.params))
        else:
            value = get_scorer(spec.name)(sample, text, **dict(spec.params))
        key, n = spec.name, 2
        while key in out:
            key, n = f"{spec.name}#{n}", n + 1
        value = float(value)
        if math.isnan(value):  # min/max would turn NaN into 1.0: a broken scorer must not score as right
            raise ValueError(f"scorer {spec.name!r} returned NaN for sample {sample.id!r}")
        out[key] = max(0.0, min(1.0, value))
    return out


# ---------------------------------------------------------------------------------------------------- helpers

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


def _answers(sample: Sample, value: Any = None) -> list[Any]:
    """Accepted answers: an explicit parameter, else the sample's answer; a list means any of them."""
    got = sample.answer if value is None else value
    if got is None:
        return []
    return list(got) if isinstance(got, list | tuple) else [got]


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


# ---------------------------------------------------------------------------------------------------- scorers


@scorer("exact")
def exact(sample: Sample, text: str, *, value: Any = None, strip: bool = True) -> float:
    """Byte-for-byte match (surrounding whitespace ignored unless strip is false)."""
    got = text.strip() if strip else text
    return float(any(got == (str(a).strip() if strip else str(a)) for a in _answers(sample, value)))


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


# ------------------------------------------------------------------------------------------- instruction checks


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


# -------------------------------------------------------------------------------------------------- LLM judge

_DEFAULT_RUBRIC = (
    "Grade the RESPONSE to the TASK. If a REFERENCE answer is given, the response is correct when it agrees "
    "with the reference in substance; wording and format do not matter."
)
_VERDICT = re.compile(r"(?im)^\s*(?:\*\*)?verdict(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*(correct|incorrect)\b")
_SCORE = re.compile(r"(?im)^\s*(?:\*\*)?score(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*([01](?:\.\d+)?)\b")


@dataclass(frozen=True)
class JudgeScorer:
    """Asks a judge model (any `complete(prompt) -> text` callable) for a verdict and parses it.

    The judge must end with `VERDICT: CORRECT` or `VERDICT: INCORRECT` (or `SCORE: x` in [0, 1] when `graded`);
    a reply without one raises `JudgeUnavailable`: the judged answer is left unscored, never scored as wrong.
    """

    complete: Callable[[str], str]
    rubric: str = _DEFAULT_RUBRIC
    graded: bool = False

    def prompt(self, sample: Sample, text: str, rubric: str | None = None) -> str:
        parts = [
            "You are grading an answer produced by an AI model.",
            f"RUBRIC:\n{rubric or self.rubric}",
            f"TASK:\n{sample.prompt}",
        ]
        if sample.answer is not None:
            parts.append(f"REFERENCE:\n{sample.answer}")
        parts.append(f"RESPONSE:\n{text}")
        if self.graded:
            parts.append("Reply with one line of reasoning, then a final line `SCORE: x` with x between 0 and 1.")
        else:
            parts.append("Reply with one line of reasoning, then a final line `VERDICT: CORRECT` or "
                         "`VERDICT: INCORRECT`.")
        return "\n\n".join(parts)

    def parse_verdict(self, reply: str) -> float | None:
        """The judge's score, or None when its reply has no verdict line."""
        if self.graded:
            found = _SCORE.findall(reply)
            return min(1.0, float(found[-1])) if found else None
        found = _VERDICT.findall(reply)
        return (1.0 if found[-1].lower() == "correct" else 0.0) if found else None

    def __call__(self, sample: Sample, text: str, *, rubric: str | None = None) -> float:
        if not text.strip():
            return 0.0
        reply = self.complete(self.prompt(sample, text, rubric))
        verdict = self.parse_verdict(reply)
        if verdict is None:
            raise JudgeUnavailable(f"the judge's reply has no verdict line ({len(reply)} characters)")
        return verdict


def _check_scorer(kind: str) -> ScorerFn:
    def check(sample: Sample, text: str, /, **params: Any) -> float:
        return float(check_instruction({"type": kind, **params}, text))

    check.__doc__ = f"The single instruction check {kind!r}, its parameters given in the scorer spec."
    return check


for _kind in INSTRUCTION_CHECKS:
    if _kind != "json_schema":  # `json_schema` is registered above with the same meaning
        scorer(_kind)(_check_scorer(_kind))
