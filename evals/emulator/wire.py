"""restJson1 wire helpers: the Bedrock error type and the exact bytes of error and JSON responses."""

from __future__ import annotations

import json
import uuid
from typing import Any

ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"

STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "SerializationException": 400,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "MissingAuthenticationTokenException": 403,
    "ResourceNotFoundException": 404,
    "UnknownOperationException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}

REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large",
    424: "Failed Dependency", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}


class BedrockError(Exception):
    """An error Bedrock answers with: botocore maps `code` to `client.exceptions.<code>`."""

    def __init__(self, code: str, message: str, *, message_key: str = "message",
                 headers: dict[str, str] | None = None, kind: str = "validation") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS.get(code, 400)
        self.message_key = message_key
        self.headers = headers or {}
        self.kind = kind  # stats bucket: validation, auth, quota, fault, routing

    def body(self) -> bytes:
        return json.dumps({self.message_key: self.message}, ensure_ascii=False).encode("utf-8")


def request_id() -> str:
    return str(uuid.uuid4())


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_headers(err: BedrockError, rid: str) -> list[tuple[str, str]]:
    out = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", rid),
        ("x-amzn-ErrorType", f"{err.code}:{ERROR_NAMESPACE}"),
    ]
    out += list(err.headers.items())
    return out
