"""Seeded fault injection: which faults hit the n-th request, decided by a hash of (seed, n)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from evals.emulator.options import FaultOptions
from evals.emulator.wire import BedrockError

# Error faults answered before any byte of the body, in the order they are drawn.
ERROR_FAULTS = {
    "throttle": ("ThrottlingException", "Too many requests, please wait before trying again."),
    "model_not_ready": ("ModelNotReadyException", "Model is not ready to serve inference requests."),
    "internal_error": ("InternalServerException", "The server encountered an internal error."),
    "service_unavailable": ("ServiceUnavailableException", "Bedrock is unable to process your request."),
    "model_timeout": ("ModelTimeoutException", "Model has timed out in processing the request."),
}
MIDSTREAM_TYPE = "modelStreamErrorException"
MIDSTREAM_MESSAGE = "The model encountered an error while streaming the response."


@dataclass(frozen=True)
class FaultPlan:
    error: BedrockError | None = None
    error_name: str | None = None
    connection_reset: bool = False
    stall_s: float = 0.0
    midstream_exception: bool = False
    trickle_s: float = 0.0

    def names(self) -> list[str]:
        out = [self.error_name] if self.error_name else []
        out += [n for n, on in (("connection_reset", self.connection_reset),
                                ("stall_before_first_byte", self.stall_s > 0),
                                ("midstream_exception", self.midstream_exception),
                                ("slow_trickle", self.trickle_s > 0)) if on]
        return out


NO_FAULTS = FaultPlan()


class FaultInjector:
    def __init__(self, options: FaultOptions, seed: int, retry_after_ms: int | None = None) -> None:
        self.options = options
        self.seed = seed
        self.retry_after_ms = retry_after_ms
        self.enabled = any(getattr(options, n) > 0 for n in FaultOptions.RATES)

    def draw(self, n: int, streaming: bool) -> FaultPlan:
        """Faults for the n-th request (every rate is drawn, in a fixed order, so plans are reproducible)."""
        if not self.enabled:
            return NO_FAULTS
        o = self.options
        rng = random.Random(f"{self.seed}:faults:{n}")
        hits = {name: rng.random() < getattr(o, name) for name in FaultOptions.RATES}
        error_name = next((name for name in ERROR_FAULTS if hits[name]), None)
        error = None
        if error_name:
            code, message = ERROR_FAULTS[error_name]
            headers = {}
            if code == "ThrottlingException" and self.retry_after_ms is not None:
                headers["x-amz-retry-after"] = str(self.retry_after_ms)
            error = BedrockError(code, message, headers=headers, kind="fault")
        return FaultPlan(
            error=error,
            error_name=error_name,
            connection_reset=hits["connection_reset"],
            stall_s=o.stall_ms / 1000 if hits["stall_before_first_byte"] else 0.0,
            midstream_exception=streaming and hits["midstream_exception"],
            trickle_s=o.trickle_delay_ms / 1000 if streaming and hits["slow_trickle"] else 0.0,
        )
