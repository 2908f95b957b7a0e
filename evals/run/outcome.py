"""What one finished request is: an `Outcome` (reply or error, with its timings) and how an error is classed.

Kept apart from the transport so the runner, the process senders and the record builder can read outcomes
without importing boto3.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals.types import Reply

STATUS_OK = "ok"
STATUS_ERROR = "error"
CLASS_THROTTLE = "throttle"
CLASS_TRANSIENT = "transient"
CLASS_CLIENT = "client"
CLASS_FATAL = "fatal"

THROTTLE_CODES = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"})
TRANSIENT_CODES = frozenset(
    {
        "ModelNotReadyException",
        "InternalServerException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "ModelStreamErrorException",
        "ReadTimeout",
        "ConnectTimeout",
        "EndpointConnectionError",
        "ConnectionClosed",
        "ResponseStreamingError",
        "EventStreamCorrupt",
        "IncompleteStream",
    }
)
# ModelErrorException (424) is "client": it is about this input (the model failed on it), retrying the same
# request does not help, and the run can go on. "fatal" is kept for what fails every request alike
# (credentials, configuration, harness bugs), so a runner may stop on it.
CLIENT_CODES = frozenset(
    {
        "ValidationException",
        "AccessDeniedException",
        "ResourceNotFoundException",
        "ModelErrorException",
        "ParamValidationError",
        "BuildError",
        "ResponseParseError",
    }
)
FATAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "NoCredentialsError",
        "NoAuthTokenError",
        "UnknownRegion",
    }
)


def classify(code: str, http_status: int | None) -> str:
    """throttle | transient | client | fatal for an error code (service or client-side) and HTTP status."""
    if code in THROTTLE_CODES:
        return CLASS_THROTTLE
    if code in TRANSIENT_CODES:
        return CLASS_TRANSIENT
    if code in CLIENT_CODES:
        return CLASS_CLIENT
    if code in FATAL_CODES:
        return CLASS_FATAL
    if http_status == 429:
        return CLASS_THROTTLE
    if http_status is not None and 500 <= http_status < 600:
        return CLASS_TRANSIENT
    return CLASS_FATAL


def is_throttle_attempt(code: str | None, status: int | None) -> bool:
    """An attempt ended in a throttle: a throttle code, or any 429 that is not ModelNotReady."""
    if code in THROTTLE_CODES:
        return True
    return status == 429 and code != "ModelNotReadyException"


@dataclass(frozen=True)
class Outcome:
    """One finished request: the reply or the error, and its timings (absolute `perf_counter_ns`)."""

    status: str  # ok | error
    reply: Reply | None
    error_code: str | None
    error_class: str | None  # throttle | transient | client | fatal
    error_message: str | None
    http_status: int | None
    attempts: int
    throttles: int
    backoff_ms: float
    t_intended_ns: int
    t_sent_ns: int
    t_first_token_ns: int | None
    t_done_ns: int
    last_attempt_ms: float
    itl_ms: tuple[float, ...] = ()
    delta_chars: tuple[int, ...] = ()
    aws_request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK
