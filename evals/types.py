"""Immutable values that flow through the pipeline: suite samples in, requests planned, responses out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API_CONVERSE = "converse"
API_INVOKE = "invoke"
API_CONVERSE_STREAM = "converse_stream"
API_INVOKE_STREAM = "invoke_stream"


@dataclass(frozen=True)
class ImageInput:
    """An image already loaded and encoded, so reading and encoding never fall inside a timed request."""

    format: str  # png | jpeg | gif | webp (Converse names)
    data: bytes
    width: int
    height: int
    source: str = ""  # file path or generator description, for reports

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class InferenceParams:
    max_tokens: int = 512
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One task item: the rendered prompt, its images, and what a correct answer looks like."""

    id: str
    prompt: str
    answer: Any = None  # str | number | list | dict, whatever the suite's scorer checks against
    system: str | None = None
    images: tuple[ImageInput, ...] = ()
    cluster: str | None = None  # items sharing a passage or template share a cluster (clustered intervals)
    meta: Mapping[str, Any] = field(default_factory=dict)  # per-item scorer parameters and labels


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    source: str
    samples: tuple[Sample, ...]
    params: InferenceParams
    scorers: tuple[ScorerSpec, ...]


@dataclass(frozen=True)
class Request:
    """One planned call: a sample sent through one API to one region and tier, for one repeat."""

    request_id: str
    index: int  # position in the interleaved plan
    suite: str
    suite_version: str
    sample: Sample
    params: InferenceParams
    api: str
    region: str
    tier: str
    model_id: str  # the id or inference profile actually sent
    repeat: int
    warmup: bool = False
    load_level: float | None = None  # sweep level (concurrency or rate) this request belongs to


@dataclass(frozen=True)
class Reply:
    """What an API parser extracts from a successful response (non-streaming or assembled stream)."""

    text: str
    stop_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    server_latency_ms: float | None
    first_byte_latency_ms: float | None = None  # server-reported, streaming invoke only
