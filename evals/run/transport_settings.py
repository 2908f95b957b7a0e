"""How the run's boto3 clients are built (retries, timeouts, pool, InvokeModel body style, auth), checked on
construction. Apart from the transport so the config checks can build and check them without importing boto3.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals.apis.invoke_llama import BODY_STYLES
from evals.errors import UserInputError

RETRY_MODES = ("standard", "adaptive", "legacy")
AUTH_MODES = ("sigv4", "bearer", "auto")


@dataclass(frozen=True)
class TransportSettings:
    """How clients are built: retries, timeouts, pool size, InvokeModel body style and auth."""

    retry_mode: str = "standard"
    max_attempts: int = 3  # total attempts, the first included
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    max_pool_connections: int = 64
    invoke_body_style: str = "prompt"  # prompt | messages
    auth: str = "auto"  # sigv4 | bearer | auto

    def __post_init__(self) -> None:
        if self.retry_mode not in RETRY_MODES:
            raise UserInputError(f"transport.retry_mode={self.retry_mode!r}: use one of {', '.join(RETRY_MODES)}")
        if self.auth not in AUTH_MODES:
            raise UserInputError(f"target.auth={self.auth!r}: use one of {', '.join(AUTH_MODES)}")
        if self.invoke_body_style not in BODY_STYLES:
            raise UserInputError(
                f"transport.invoke_body_style={self.invoke_body_style!r}: use one of {', '.join(BODY_STYLES)}"
            )
        if self.max_attempts < 1:
            raise UserInputError(f"transport.max_attempts={self.max_attempts}: must be >= 1")
        if self.max_pool_connections < 1:
            raise UserInputError(f"transport.max_pool_connections={self.max_pool_connections}: must be >= 1")
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise UserInputError("transport timeouts must be > 0 seconds")
