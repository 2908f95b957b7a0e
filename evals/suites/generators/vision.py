"""Vision items drawn with Pillow, ground truth known by construction: bar values, tallest bar, shape counts,
rendered digits, shape colours. Formats and sizes cycle so latency can be plotted against image bytes and pixels.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from evals.suites.images import encode
from evals.suites.items import Item

KINDS = ("bar_value", "bar_max", "count_shapes", "read_text", "shape_color")
FORMATS = ("png", "jpeg", "webp")
SIZES = (256, 512, 1024, 1536)

COLOURS = {"red": (220, 30, 30), "green": (30, 160, 50), "blue": (30, 70, 220), "yellow": (240, 210, 20),
           "orange": (245, 140, 20), "purple": (130, 50, 170), "black": (0, 0, 0), "brown": (120, 70, 30)}
CATEGORIES = ["Apples", "Pears", "Plums", "Grapes", "Figs", "Limes", "Kiwis", "Dates"]
SHAPES = ("circle", "square", "triangle")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _shape(draw: ImageDraw.ImageDraw, kind: str, box: tuple[float, float, float, float], fill: Any) -> None:
    x0, y0, x1, y1 = box
    if kind == "circle":
        draw.ellipse(box, fill=fill)
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)


def _bar_chart(rng: random.Random, size: int) -> tuple[Image.Image, list[str], list[int]]:
    n = rng.randint(3, 6)
    labels = rng.sample(CATEGORIES, n)
    values = rng.sample(range(10, 100, 5), n)  # distinct, so the tallest bar is unique
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = size * 0.14, size * 0.96, size * 0.06, size * 0.86
    font = _font(int(size * 0.035))
    for tick in range(0, 101, 10):
        y = bottom - (bottom - top) * tick / 100
        draw.line([(left, y), (right, y)], fill=(200, 200, 200), width=max(1, size // 512))
        draw.text((left - size * 0.02, y), str(tick), fill="black", font=font, anchor="rm")
    draw.line([(left, top), (left, bottom), (right, bottom)], fill="black", width=max(1, size // 256))
    slot = (right - left) / n
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x0, x1 = left + slot * (i + 0.2), left + slot * (i + 0.8)
        draw.rectangle([x0, bottom - (bottom - top) * value / 100, x1, bottom], fill=(60, 110, 200))
        draw.text(((x0 + x1) / 2, bottom + size * 0.02), label, fill="black", font=font, anchor="ma")
    return img, labels, values


def _cells(rng: random.Random, size: int, count: int) -> list[tuple[float, float, float, float]]:
    grid = 4
    cell = size / grid
    picks = rng.sample(range(grid * grid), count)
    boxes = []
    for p in picks:
        cx, cy = (p % grid) * cell, (p // grid) * cell
        pad = cell * rng.uniform(0.12, 0.25)
        boxes.append((cx + pad, cy + pad, cx + cell - pad, cy + cell - pad))
    return boxes


def _make(kind: str, rng: random.Random, size: int) -> tuple[Image.Image, str, Any, dict[str, Any]]:
    """Image, question, answer, scorer meta."""
    exact = {"scorer": "normalized_exact", "scorer_params": {"lenient": True}}
    if kind == "bar_value":
        img, labels, values = _bar_chart(rng, size)
        i = rng.randrange(len(labels))
        return (img, f"In this bar chart, what is the value of the {labels[i]} bar? Answer with a number.",
                values[i], {"scorer": "numeric", "scorer_params": {"abs_tol": 2.5}})
    if kind == "bar_max":
        img, labels, values = _bar_chart(rng, size)
        return (img, "Which category has the tallest bar? Answer with the category name only.",
                labels[values.index(max(values))], exact)
    if kind == "count_shapes":
        img = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(img)
        target, other = rng.sample(SHAPES, 2)
        k, m = rng.randint(1, 8), rng.randint(0, 4)
        boxes = _cells(rng, size, k + m)
        for j, box in enumerate(boxes):
            _shape(draw, target if j < k else other, box, COLOURS[rng.choice(["red", "blue", "green"])])
        return (img, f"How many {target}s are in the image? Answer with a number.", k,
                {"scorer": "numeric", "scorer_params": {}})
    if kind == "read_text":
        code = "".join(rng.choice("23456789") for _ in range(rng.randint(4, 6)))
        img = Image.new("RGB", (size, size // 2), (250, 250, 240))
        ImageDraw.Draw(img).text((size / 2, size / 4), code, fill="black", font=_font(int(size * 0.14)), anchor="mm")
        return img, "What number is written in the image? Answer with the digits only.", code, exact
    colour = rng.choice(sorted(COLOURS))
    shape = rng.choice(SHAPES)
    img = Image.new("RGB", (size, size), (245, 245, 245))
    _shape(ImageDraw.Draw(img), shape, (size * 0.2, size * 0.2, size * 0.8, size * 0.8), COLOURS[colour])
    return img, f"What colour is the {shape}? Answer with one colour name.", colour, exact


def generate(
    *,
    seed: int,
    n: int = 60,
    kinds: Sequence[str] = KINDS,
    formats: Sequence[str] = FORMATS,
    sizes: Sequence[int] = SIZES,
) -> list[Item]:
    """`n` items; kind, format and size cycle independently so every combination appears (n=60 covers all)."""
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"kinds: choose from {KINDS}")
    if not formats or any(f not in ("png", "jpeg", "webp", "gif") for f in formats):
        raise ValueError("formats: choose from png, jpeg, webp, gif")
    if not sizes or any(int(s) < 64 for s in sizes):
        raise ValueError("sizes: each side must be at least 64 px")
    rng = random.Random(f"vision:{seed}")
    items = []
    for i in range(n):
        kind, fmt = kinds[i % len(kinds)], formats[i % len(formats)]
        size = int(sizes[(i // len(formats)) % len(sizes)])
        img, question, answer, meta = _make(kind, rng, size)
        image = encode(img, fmt, source=f"vision:{kind}:{size}px.{fmt}")
        items.append(Item(id=f"{kind}-{i:03d}", fields={"question": question}, answer=answer, images=(image,),
                          meta={"kind": kind, "format": fmt, "side_px": size, **meta}))
    return items
