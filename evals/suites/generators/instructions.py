"""Verifiable-instruction items (IFEval-style): each prompt carries checks code can verify, and a reference.

`answer` is the list of checks (see `evals.scorers.check_instruction`); `meta["reference"]` is a response
built here that satisfies every check, which is what the emulator's oracle engine returns.
"""

from __future__ import annotations

import json
import random
from typing import Any

from evals.scorers import words
from evals.suites.items import Item

TOPICS = ["gardening", "bicycles", "the ocean", "coffee", "public libraries", "volcanoes", "chess", "rainforests",
          "bread baking", "honeybees", "lighthouses", "winter sports", "city parks", "solar power", "photography",
          "bird watching", "board games", "railways", "mountain hiking", "recycling"]
FORBIDDEN = ["very", "really", "amazing", "basically", "literally", "awesome", "just", "thing"]
KEYWORDS = ["history", "community", "patience", "season", "balance", "practice", "tradition", "future"]
FAMILIES = ("bullets", "short", "long", "json", "upper", "paragraphs")

_CLAUSES = [
    "{t} rewards people who pay close attention",
    "many people enjoy {t} on quiet weekends",
    "{t} has a history that spans several generations",
    "learning about {t} takes time and patience",
    "{t} connects people from different places",
    "there are many small details to notice in {t}",
    "{t} changes with the seasons of the year",
    "good habits make {t} more rewarding over time",
]

_ENTITIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "a book": (
        {"title": {"type": "string"}, "author": {"type": "string"}, "year": {"type": "integer"},
         "genres": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
        {"title": "Tide and Stone", "author": "M. Rivera", "year": 1987, "genres": ["mystery", "drama"]},
    ),
    "a city": (
        {"name": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"},
         "coastal": {"type": "boolean"}},
        {"name": "Porto", "country": "Portugal", "population": 231800, "coastal": True},
    ),
    "a recipe": (
        {"dish": {"type": "string"}, "servings": {"type": "integer"},
         "ingredients": {"type": "array", "items": {"type": "string"}, "minItems": 3},
         "vegetarian": {"type": "boolean"}},
        {"dish": "tomato soup", "servings": 4, "ingredients": ["tomatoes", "onion", "garlic"], "vegetarian": True},
    ),
    "a planet": (
        {"name": {"type": "string"}, "moons": {"type": "integer"}, "gas_giant": {"type": "boolean"},
         "order_from_sun": {"type": "integer"}},
        {"name": "Saturn", "moons": 146, "gas_giant": True, "order_from_sun": 6},
    ),
}


def _sentence(clause: str, topic: str) -> str:
    s = clause.format(t=topic)
    return s[0].upper() + s[1:] + "."


def _prose(rng: random.Random, topic: str, n_sentences: int, keyword: str | None = None) -> list[str]:
    clauses = rng.sample(_CLAUSES, min(n_sentences, len(_CLAUSES)))
    while len(clauses) < n_sentences:
        clauses.append(rng.choice(_CLAUSES))
    out = [_sentence(c, topic) for c in clauses]
    if keyword:
        out[0] = out[0][:-1] + f", and {keyword} matters."
    return out


def _bullets(rng: random.Random, topic: str) -> tuple[str, list[dict], str]:
    n = rng.randint(3, 6)
    prompt = f"Write exactly {n} bullet points about {topic}. Start each bullet with '- ' and write nothing else."
    checks: list[dict[str, Any]] = [{"type": "bullet_count", "n": n}]
    lines = [f"- {s}" for s in _prose(rng, topic, n)]
    extra = rng.randrange(3)
    if extra == 1:
        prompt += " Use only lowercase letters."
        checks.append({"type": "case", "case": "lower"})
        lines = [ln.lower() for ln in lines]
    elif extra == 2:
        kw = rng.choice(KEYWORDS)
        prompt += f" Include the word '{kw}' at least once."
        checks.append({"type": "include_words", "words": [kw]})
        lines[0] = lines[0][:-1] + f", with {kw} in mind."
    return prompt, checks, "\n".join(lines)


def _short(rng: random.Random, topic: str) -> tuple[str, list[dict], str]:
    limit = rng.choice([20, 30, 40, 50])
    banned = rng.sample(FORBIDDEN, 2)
    kw = rng.choice(KEYWORDS)
    prompt = (f"Describe {topic} in at most {limit} words, using the word '{kw}'. "
              f"Do not use the words '{banned[0]}' or '{banned[1]}'.")
    checks: list[dict[str, Any]] = [{"type": "word_count", "max": limit}, {"type": "include_words", "words": [kw]},
              {"type": "forbid_words", "words": banned}]
    text = ""
    for s in _prose(rng, topic, 8, keyword=kw):
        if len(words(f"{text} {s}")) > limit:
            break
        text = f"{text} {s}".strip()
    return prompt, checks, text


def _long(rng: random.Random, topic: str) -> tuple[str, list[dict], str]:
    least = rng.choice([60, 80, 100])
    ending = "Is there anything else I can help with?"
    prompt = (f"Write at least {least} words about {topic}. End your response with the exact phrase "
              f"'{ending}' and nothing after it.")
    checks: list[dict[str, Any]] = [{"type": "word_count", "min": least}, {"type": "ends_with", "text": ending}]
    body: list[str] = []
    while len(words(" ".join(body))) < least:
        body += _prose(rng, topic, 8)
    return prompt, checks, " ".join(body) + " " + ending


def _json(rng: random.Random, topic: str) -> tuple[str, list[dict], str]:
    entity = rng.choice(sorted(_ENTITIES))
    props, example = _ENTITIES[entity]
    schema = {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False}
    spec = ", ".join(f"{k} ({v['type'] if v['type'] != 'array' else 'array of strings'})" for k, v in props.items())
    prompt = (f"Invent {entity} and describe it as a JSON object with exactly these keys: {spec}. "
              "Reply with the JSON object only.")
    return prompt, [{"type": "json_schema", "schema": schema}], json.dumps(example)


def _upper(rng: random.Random, topic: str) -> tuple[str, list[dict], str]:
    n = rng.randint(2, 3)
    prompt = f"Write exactly {n} sentences about {topic}, entirely in CAPITAL LETTERS."
    checks: list[dict[str, Any]] = [{"type": "case", "case": "upper"}, {"type": "sentence_count", "min": n, "max": n}]
    return prompt, checks, " ".join(_prose(rng, topic, n)).upper()


def _paragraphs(rng: random.Random, topic: str) -> tuple[str, list[dict], str]:
    n = rng.randint(2, 4)
    first = rng.choice(["Today", "Often", "Imagine", "Consider"])
    prompt = (f"Write exactly {n} paragraphs about {topic}, separated by one blank line. "
              f"The first paragraph must start with the word '{first}'.")
    checks: list[dict[str, Any]] = [{"type": "paragraph_count", "n": n}, {"type": "starts_with", "text": first}]
    paras = [" ".join(_prose(rng, topic, 2)) for _ in range(n)]
    paras[0] = f"{first}, " + paras[0][0].lower() + paras[0][1:]
    return prompt, checks, "\n\n".join(paras)


_MAKERS = {"bullets": _bullets, "short": _short, "long": _long, "json": _json, "upper": _upper,
           "paragraphs": _paragraphs}


def generate(*, seed: int, n: int = 120, families: list[str] | tuple[str, ...] = FAMILIES) -> list[Item]:
    """`n` items cycling through instruction `families`, topics and parameters drawn from the seed."""
    unknown = [f for f in families if f not in _MAKERS]
    if unknown or not families:
        raise ValueError(f"families: unknown family {unknown[0] if unknown else '(none given)'!r} (known: {FAMILIES})")
    if n < 1:
        raise ValueError("n: must be at least 1")
    rng = random.Random(f"instructions:{seed}")
    items = []
    for i in range(n):
        family = families[i % len(families)]
        topic = rng.choice(TOPICS)
        prompt, checks, reference = _MAKERS[family](rng, topic)
        items.append(Item(id=f"{family}-{i:04d}", fields={"instruction": prompt, "topic": topic}, answer=checks,
                          meta={"family": family, "reference": reference}))
    return items
