"""Small pieces both API families share: the effective token budget and the per-delta stream trace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from evals.types import Reply, Request


def effective_max_tokens(request: Request) -> int:
    """Per-item `sample.meta["max_tokens"]` overrides the suite's `params.max_tokens`."""
    override = request.sample.meta.get("max_tokens")
    return int(override) if override is not None else int(request.params.max_tokens)


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup (botocore lowercases names; tests may not)."""
    if not headers:
        return None
    value = headers.get(name.lower())
    if value is not None:
        return value
    lname = name.lower()
    for key, val in headers.items():
        if key.lower() == lname:
            return val
    return None


def as_int(value: Any) -> int | None:
    """An int from a service field that may be missing, null, or a numeric string."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class StreamTrace:
    """Arrival time (perf_counter_ns, taken by the caller) and size of every content delta of one stream."""

    delta_ns: list[int] = field(default_factory=list)
    delta_chars: list[int] = field(default_factory=list)

    def add(self, t_ns: int, chars: int) -> None:
        self.delta_ns.append(t_ns)
        self.delta_chars.append(chars)

    @property
    def first_ns(self) -> int | None:
        return self.delta_ns[0] if self.delta_ns else None

    def itl_ms(self) -> tuple[float, ...]:
        """Gaps between consecutive content deltas, in ms: one fewer than the deltas."""
        ts = self.delta_ns
        return tuple((b - a) / 1e6 for a, b in pairwise(ts))


class StreamAssembler:
    """What both stream forms accumulate: text parts with their trace, stop reason, usage, server latency.

    Subclasses implement `feed(event, t_ns)` for their event shapes; the caller stamps each event with its
    own clock reading, so assembling stays a pure accumulation.
    """

    def __init__(self) -> None:
        self.trace = StreamTrace()
        self._parts: list[str] = []
        self.stop_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.server_latency_ms: float | None = None
        self.first_byte_latency_ms: float | None = None
        self.events = 0

    def add_text(self, text: str, t_ns: int) -> None:
        self._parts.append(text)
        self.trace.add(t_ns, len(text))

    @property
    def complete(self) -> bool:
        """True once the stream carried a stop reason; a stream that ends before it was cut short."""
        return self.stop_reason is not None

    def reply(self) -> Reply:
        return Reply(
            text="".join(self._parts),
            stop_reason=self.stop_reason,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            server_latency_ms=self.server_latency_ms,
            first_byte_latency_ms=self.first_byte_latency_ms,
        )
