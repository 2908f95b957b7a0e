"""Validate request fields the way Bedrock does, into one normalized `GenRequest`: its messages, the field
checks (ranges, max tokens, metadata, images, tier) and the token count and context-window rule every API shares.
The per-API bodies are read in `evals.emulator.request_bodies`.

Every message Bedrock answers with lives in `MESSAGES` so the unconfirmed ones are easy to find and change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from evals.cards import ModelCard
from evals.emulator import tokenizer
from evals.emulator.wire import BedrockError

MESSAGES = {
    # Sourced (seen in real responses)
    "max_tokens": "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum "
    "tokens value that is lower than {limit}.",
    "first_user": "A conversation must start with a user message. Try again with a conversation that starts with "
    "a user message.",
    "alternate": "A conversation must alternate between user and assistant roles. Make sure the conversation "
    "alternates between user and assistant roles and try again.",
    "too_long": "Input is too long for requested model.",
    "tools": "This model doesn't support tool use.",
    # Coral's generic constraint message format (sourced shape, field paths ours)
    "le": "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: Member must "
    "have value less than or equal to {limit}",
    "ge": "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: Member must "
    "have value greater than or equal to {limit}",
    "le_len": "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: Member must "
    "have length less than or equal to {limit}",
    "null": "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not "
    "be null",
    # InvokeModel model-native body errors ("Malformed input request: ..." shape is sourced; details ours)
    "invoke_json": "Malformed input request: {detail}, please reformat your input and try again.",
    # UNCONFIRMED wording
    "bad_json": "Malformed input request, please reformat your input and try again.",
    "streaming": "The model is unsupported for streaming.",
    "service_tier": "The provided service tier {tier} is not supported for this model.",
    "performance": "The provided performance configuration latency {latency} is not supported for this model.",
    "context_sum": "The sum of input tokens ({input}) and maximum output tokens ({max}) exceeds the model's "
    "context window of {window} tokens.",
    "no_images": "This model doesn't support image input.",
    "image_count": "Too many images: at most {limit} images are allowed in a request.",
    "image_bytes": "The image size ({size} bytes) exceeds the maximum of {limit} bytes.",
    "image_px": "The image dimensions {w}x{h} exceed the maximum of {limit} pixels per side.",
    "image_format": "The provided image format {declared} does not match the image bytes ({actual}).",
    "image_unsupported": "The image format {actual} is not supported for this model.",
    "image_decode": "Unable to process the provided image.",
    "image_role": "Images are only allowed in user messages.",
    "content_block": "The content block {block} is not supported for this model.",
    "count_tokens": "The provided model doesn't support counting tokens.",
    "count_tokens_input": "The input must contain exactly one of converse or invokeModel.",
}

PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}
TEMPLATES = {
    "llama4": ("<|begin_of_text|>", "<|header_start|>{role}<|header_end|>\n\n", "<|eot|>"),
    "llama3": ("<|begin_of_text|>", "<|start_header_id|>{role}<|end_header_id|>\n\n", "<|eot_id|>"),
}


def invalid(key: str, **fmt: Any) -> BedrockError:
    return BedrockError("ValidationException", MESSAGES[key].format(**fmt))


@dataclass(frozen=True)
class ImageInput:
    format: str
    width: int
    height: int
    nbytes: int
    digest: str

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


@dataclass
class GenRequest:
    """A generation request in one shape, whatever API it came through."""

    style: str  # converse | prompt | messages
    turns: list[tuple[str, str, int]]  # role, text, number of images
    system: list[str] = field(default_factory=list)
    images: list[ImageInput] = field(default_factory=list)
    raw_prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    service_tier: str | None = None
    performance_latency: str | None = None
    input_tokens: int = 0
    canonical: str = ""

    @property
    def user_text(self) -> str:
        """The last user message's text (what the echo engine returns)."""
        for role, text, _ in reversed(self.turns):
            if role == "user":
                return text
        return self.raw_prompt or ""


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid("bad_json") from None


def chat_prompt(card: ModelCard, system: list[str], turns: list[tuple[str, str, int]]) -> str:
    """The model's chat template applied to the conversation (images as `<|image|>` placeholders)."""
    begin, header, eot = TEMPLATES.get(card.family, TEMPLATES["llama4"])
    parts = [begin]
    if system:
        parts.append(header.format(role="system") + "\n".join(system) + eot)
    for role, text, n_images in turns:
        parts.append(header.format(role=role) + "<|image|>" * n_images + text + eot)
    parts.append(header.format(role="assistant"))
    return "".join(parts)


def check_image(card: ModelCard, data: bytes, declared: str | None, images: list[ImageInput]) -> ImageInput:
    """Card limits, then decode with Pillow to learn the real format and size."""
    if "image" not in card.input_modalities:
        raise invalid("no_images")
    limits = card.images
    if limits.max_count and len(images) + 1 > limits.max_count:
        raise invalid("image_count", limit=limits.max_count)
    if limits.max_bytes and len(data) > limits.max_bytes:
        raise invalid("image_bytes", size=len(data), limit=limits.max_bytes)
    try:
        with Image.open(io.BytesIO(data)) as img:
            actual = PIL_FORMATS.get(img.format or "", (img.format or "unknown").lower())
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise invalid("image_decode") from None
    if declared is not None and declared != actual:
        raise invalid("image_format", declared=declared, actual=actual)
    if limits.formats and actual not in limits.formats:
        raise invalid("image_unsupported", actual=actual)
    if limits.max_side_px and max(width, height) > limits.max_side_px:
        raise invalid("image_px", w=width, h=height, limit=limits.max_side_px)
    return ImageInput(actual, width, height, len(data), hashlib.sha256(data).hexdigest()[:16])


def decode_b64(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise invalid("null", path=path)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("image_decode") from None


def in_range(value: Any, path: str, low: float, high: float, style: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise invalid("bad_json")
    if value > high:
        if style == "converse":
            raise invalid("le", value=value, path=path, limit=_num(high))
        raise invalid("invoke_json", detail=f"#/{path}: {value} is not less or equal to {_num(high)}")
    if value < low:
        if style == "converse":
            raise invalid("ge", value=value, path=path, limit=_num(low))
        raise invalid("invoke_json", detail=f"#/{path}: {value} is not greater or equal to {_num(low)}")
    return float(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_max_tokens(card: ModelCard, value: Any, path: str, style: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if style == "converse":
            raise invalid("bad_json")
        raise invalid("invoke_json", detail=f"#/{path}: expected type: Integer, found: {type(value).__name__}")
    if value < 1:
        if style == "converse":
            raise invalid("ge", value=value, path=path, limit=1)
        raise invalid("invoke_json", detail=f"#/{path}: {value} is not greater or equal to 1")
    if value > card.max_output_tokens:
        if style == "converse":
            raise invalid("max_tokens", limit=card.max_output_tokens)
        raise invalid("invoke_json", detail=f"#/{path}: {value} is not less or equal to {card.max_output_tokens}")
    return value


def check_metadata(value: Any) -> dict[str, str]:
    """requestMetadata: at most 16 string pairs, keys 1-256 and values 0-256 characters (service model)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid("bad_json")
    if len(value) > 16:
        raise invalid("le_len", value=len(value), path="requestMetadata", limit=16)
    for key, item in value.items():
        if not 1 <= len(key) <= 256 or len(item) > 256:
            raise invalid("le_len", value=key[:40], path="requestMetadata", limit=256)
    return dict(value)


def finish_request(card: ModelCard, req: GenRequest, prompt: str) -> GenRequest:
    """Token count, context-window rule and the canonical hash that seeds the engines."""
    req.input_tokens = tokenizer.count(prompt) + sum(tokenizer.image_tokens(i.width, i.height) for i in req.images)
    # Rule: input alone over the window -> "Input is too long"; input + an explicit max output over it -> sum rule.
    if req.input_tokens > card.context_window:
        raise invalid("too_long")
    if req.max_tokens is not None and req.input_tokens + req.max_tokens > card.context_window:
        raise invalid("context_sum", input=req.input_tokens, max=req.max_tokens, window=card.context_window)
    canon = "\x1f".join(map(str, (card.model_id, prompt, [i.digest for i in req.images], req.max_tokens,
                                  req.temperature, req.top_p, req.stop_sequences)))
    req.canonical = hashlib.sha256(canon.encode()).hexdigest()
    return req


def check_tier(card: ModelCard, tier: str | None, latency: str | None) -> None:
    if tier is not None and tier not in card.service_tiers:
        raise invalid("service_tier", tier=tier)
    if latency is not None and latency not in card.performance_latency:
        raise invalid("performance", latency=latency)
