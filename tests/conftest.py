"""Shared fixtures: a running emulator and boto3 `bedrock-runtime` clients pointed at it.

- `emulator` (session): zero latency, synthetic engine, seed 1234. Its `.endpoints`, `.stats()`, `.reset()`.
- `make_client(region, auth="sigv4"|"bearer", emulator=None, **config_kwargs)`: a real boto3 client.
  sigv4 -> the region's plain-HTTP listener signed with the emulator's keys; bearer -> its HTTPS listener,
  `verify=ca_file`, the API key taken from AWS_BEARER_TOKEN_BEDROCK while the client is created.
  `config_kwargs` go to `botocore.config.Config` (default retries={"total_max_attempts": 1}: no retries;
  e.g. retries={"total_max_attempts": 3, "mode": "standard"}, read_timeout=1,
  parameter_validation=False). Pass `emulator=` to target an emulator a test started itself.

Helpers importable with `from conftest import ...`: `client_for(emulator, region, auth, **config)`,
`check_output(operation, parsed)` / `check_shape(value, shape)` (boto3 output vs the service model),
`event_member_shape`, `png_bytes`, `b64`, `raw_request` (one optionally SigV4-signed request via http.client).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from PIL import Image

from evals.emulator import Emulator, EmulatorOptions

MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0"
MAVERICK_BARE = "meta.llama4-maverick-17b-instruct-v1:0"
LLAMA33 = "us.meta.llama3-3-70b-instruct-v1:0"
LLAMA33_BARE = "meta.llama3-3-70b-instruct-v1:0"  # CountTokens names the foundation model, not a profile


def client_for(emu: Emulator, region: str, auth: str = "sigv4", **config_kwargs: Any) -> Any:
    """A boto3 bedrock-runtime client for `emu`'s `region` listener in the given auth mode."""
    endpoints = emu.endpoints["regions"][region]
    creds = emu.endpoints["credentials"]
    config_kwargs.setdefault("retries", {"total_max_attempts": 1, "mode": "standard"})
    session = boto3.session.Session(
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"],
        region_name=region,
    )
    if auth == "sigv4":
        return session.client(
            "bedrock-runtime",
            endpoint_url=endpoints["http"],
            config=Config(signature_version="v4", **config_kwargs),
        )
    if auth == "bearer":
        previous = os.environ.get("AWS_BEARER_TOKEN_BEDROCK")
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = creds["api_key"]
        try:
            return session.client(
                "bedrock-runtime",
                endpoint_url=endpoints["https"],
                verify=endpoints["ca_file"],
                config=Config(signature_version="bearer", **config_kwargs),
            )
        finally:
            if previous is None:
                os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
            else:
                os.environ["AWS_BEARER_TOKEN_BEDROCK"] = previous
    raise ValueError(f"unknown auth mode {auth!r}")


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator for the whole session: zero latency, synthetic engine, seed 1234."""
    options = EmulatorOptions.from_dict({"latency_profile": "zero", "engine": "synthetic", "seed": 1234})
    with Emulator(options) as emu:
        yield emu


@pytest.fixture
def make_client(emulator: Emulator) -> Callable[..., Any]:
    """Factory: make_client(region, auth='sigv4'|'bearer', emulator=None, **Config kwargs) -> boto3 client."""

    def make(region: str = "us-east-1", auth: str = "sigv4", emulator: Emulator | None = None,
             **config_kwargs: Any) -> Any:
        return client_for(emulator or emulator_default, region, auth, **config_kwargs)

    emulator_default = emulator
    return make


_MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (float, int),
    "double": (float, int),
    "boolean": (bool,),
    "blob": (bytes, bytearray),
    "timestamp": (object,),
}


def check_shape(value: Any, shape: Any, path: str = "$") -> None:
    """Assert a parsed boto3 value matches a botocore shape: required members, known members, types."""
    if shape.type_name == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {type(value).__name__}"
        for name in shape.required_members:
            assert name in value, f"{path}: missing required {name}"
        for name, item in value.items():
            if name == "ResponseMetadata" and path == "$":
                continue
            assert name in shape.members, f"{path}: unknown member {name}"
            check_shape(item, shape.members[name], f"{path}.{name}")
    elif shape.type_name == "list":
        assert isinstance(value, list), f"{path}: expected list"
        for i, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{i}]")
    elif shape.type_name == "map":
        assert isinstance(value, dict), f"{path}: expected map"
    elif shape.type_name == "blob" and getattr(shape, "serialization", {}).get("eventstream"):
        return
    else:
        expected = _PY_TYPES.get(shape.type_name, (object,))
        if shape.type_name == "blob" and not isinstance(value, bytes | bytearray):
            return  # streaming body objects
        assert isinstance(value, expected), f"{path}: {shape.type_name} expected, got {type(value).__name__}"
        if getattr(shape, "enum", None):
            assert value in shape.enum, f"{path}: {value!r} not in enum"


def check_output(operation: str, parsed: dict[str, Any]) -> None:
    shape = _MODEL.operation_model(operation).output_shape
    payload = shape.serialization.get("payload")
    if payload:
        assert payload in parsed, f"missing payload member {payload}"
        parsed = {k: v for k, v in parsed.items() if k != payload}
        shape = _Without(shape, payload)
    check_shape(parsed, shape)


class _Without:
    """A structure shape view without its (streaming) payload member."""

    type_name = "structure"

    def __init__(self, shape: Any, member: str) -> None:
        self.members = {k: v for k, v in shape.members.items() if k != member}
        self.required_members = [m for m in shape.required_members if m != member]


def event_member_shape(operation: str, event: str) -> Any:
    stream_shape = _MODEL.operation_model(operation).output_shape
    union = next(m for m in stream_shape.members.values() if m.type_name == "structure")
    return union.members[event]


def png_bytes(width: int = 64, height: int = 48, fmt: str = "PNG", noise: bool = False) -> bytes:
    buf = io.BytesIO()
    if noise:
        import os

        img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        img = Image.new("RGB", (width, height), (200, 30, 30))
    img.save(buf, format=fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def raw_request(endpoint: str, model_id: str, op: str, body: dict[str, Any] | bytes, *, region: str,
                creds: dict[str, str] | None, extra_headers: dict[str, str] | None = None,
                secret: str | None = None, sign_region: str | None = None,
                ca_file: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send one request with http.client (optionally SigV4-signed by botocore) and return the raw answer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = f"/model/{quote(model_id, safe='')}/{op}"
    url = endpoint + path
    headers = {"Content-Type": "application/json", **(extra_headers or {})}
    if creds is not None:
        req = AWSRequest("POST", url, data=data, headers=headers)
        signer = SigV4Auth(Credentials(creds["access_key_id"], secret or creds["secret_access_key"]), "bedrock",
                           sign_region or region)
        signer.add_auth(req)
        headers = dict(req.headers.items())
    parts = urlsplit(endpoint)
    if parts.scheme == "https":
        import ssl

        ctx = ssl.create_default_context(cafile=ca_file)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx,
                                                                      timeout=10)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
