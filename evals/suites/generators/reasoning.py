"""Reasoning items with exact answers: arithmetic, calendar dates, unit conversions, string manipulation.

Every answer is computed here, so the key is right by construction; each item names its own scorer
(numeric with tolerance or normalized exact) because one suite mixes numbers, dates and words.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from typing import Any

from evals.suites.items import Item

KINDS = ("arithmetic", "date", "unit", "string")

_WORDS = ["lantern", "harbor", "pencil", "meadow", "orbit", "saddle", "violin", "cactus", "glacier", "pepper",
          "marble", "tunnel", "falcon", "ribbon", "walnut", "candle", "island", "copper", "thunder", "blossom",
          "compass", "dolphin", "feather", "garlic", "hammock", "jigsaw", "kettle", "lobster", "mango", "noodle"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _numeric(abs_tol: float = 1e-6, rel_tol: float = 0.0) -> dict[str, Any]:
    return {"scorer": "numeric", "scorer_params": {"abs_tol": abs_tol, "rel_tol": rel_tol}}


def _exact() -> dict[str, Any]:
    return {"scorer": "normalized_exact", "scorer_params": {"lenient": True}}


def arithmetic(rng: random.Random) -> tuple[str, Any, dict[str, Any]]:
    form = rng.randrange(4)
    if form == 0:
        a, b, c = rng.randint(12, 999), rng.randint(11, 99), rng.randint(100, 9999)
        return f"What is {a} × {b} − {c:,}?", a * b - c, _numeric()
    if form == 1:
        pct, base = rng.choice([5, 10, 12, 15, 20, 25, 35, 40, 75]), rng.randrange(20, 2000, 20)
        return f"What is {pct}% of {base:,}?", pct * base / 100, _numeric(abs_tol=1e-6)
    if form == 2:
        b = rng.randint(3, 40)
        q = rng.randint(12, 500)
        return f"Divide {b * q:,} by {b}. What is the result?", q, _numeric()
    a, b, c = rng.randint(-500, 500), rng.randint(-500, 500), rng.randint(2, 9)
    return f"Compute ({a}) + ({b}) × {c}.", a + b * c, _numeric()


def date(rng: random.Random) -> tuple[str, Any, dict[str, Any]]:
    start = dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 40))
    form = rng.randrange(3)
    if form == 0:
        days = rng.randint(10, 400)
        return (f"What is the date {days} days after {start.isoformat()}? Answer in YYYY-MM-DD format.",
                (start + dt.timedelta(days=days)).isoformat(), _exact())
    if form == 1:
        return f"On which day of the week did {start.isoformat()} fall?", _WEEKDAYS[start.weekday()], _exact()
    end = start + dt.timedelta(days=rng.randint(5, 900))
    return (f"How many days are there from {start.isoformat()} to {end.isoformat()} "
            "(counting the end date but not the start date)?", (end - start).days, _numeric())


_UNITS: list[tuple[str, str, Callable[[float], float]]] = [
    ("kilometres", "miles", lambda x: x / 1.609344),
    ("miles", "kilometres", lambda x: x * 1.609344),
    ("kilograms", "pounds", lambda x: x / 0.45359237),
    ("degrees Celsius", "degrees Fahrenheit", lambda x: x * 9 / 5 + 32),
    ("hours", "seconds", lambda x: x * 3600),
    ("litres", "millilitres", lambda x: x * 1000),
    ("inches", "centimetres", lambda x: x * 2.54),
    ("gigabytes (1 GB = 1024 MB)", "megabytes", lambda x: x * 1024),
]


def unit(rng: random.Random) -> tuple[str, Any, dict[str, Any]]:
    src, dst, convert = rng.choice(_UNITS)
    value = rng.choice([rng.randint(2, 500), round(rng.uniform(1, 100), 1)])
    answer = round(convert(value), 2)
    return (f"Convert {value} {src} to {dst}. Round to two decimal places.", answer,
            _numeric(abs_tol=0.011, rel_tol=0.001))


def string(rng: random.Random) -> tuple[str, Any, dict[str, Any]]:
    form = rng.randrange(4)
    if form == 0:
        word = rng.choice(_WORDS)
        return f"Write the word '{word}' backwards.", word[::-1], _exact()
    if form == 1:
        picked = rng.sample(_WORDS, 4)
        return (f"Sort these words alphabetically and list them separated by single spaces: {' '.join(picked)}.",
                " ".join(sorted(picked)), _exact())
    if form == 2:
        word = rng.choice([w for w in _WORDS if len(set(w)) < len(w)])
        letter = rng.choice(sorted({c for c in word if word.count(c) > 1}))
        return f"How many times does the letter '{letter}' appear in the word '{word}'?", word.count(letter), _numeric()
    picked = rng.sample(_WORDS, 5)
    return (f"What is the first letter of each of these words, joined into one string: {', '.join(picked)}?",
            "".join(w[0] for w in picked), _exact())


_MAKERS = {"arithmetic": arithmetic, "date": date, "unit": unit, "string": string}


def generate(*, seed: int, n: int = 400, kinds: Sequence[str] = KINDS) -> list[Item]:
    """`n` items cycling through `kinds`; the seed fixes every number and word."""
    unknown = [k for k in kinds if k not in _MAKERS]
    if unknown or not kinds:
        raise ValueError(f"kinds: unknown kind {unknown[0] if unknown else '(none given)'!r} (known: {KINDS})")
    if n < 1:
        raise ValueError("n: must be at least 1")
    rng = random.Random(f"reasoning:{seed}")
    items = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        question, answer, meta = _MAKERS[kind](rng)
        items.append(Item(id=f"{kind}-{i:04d}", fields={"question": question}, answer=answer,
                          meta={"kind": kind, **meta}))
    return items
