"""Helpers shared by the emulator tests: service-model shape checks, images, raw signed requests."""

from __future__ import annotations

import base64
import http.client
import io
import json
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image

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
