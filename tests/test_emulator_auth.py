"""Authentication: SigV4 recomputed server-side, bearer keys only over HTTPS, nothing served unauthenticated."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import boto3
import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, InvalidEndpointConfigurationError
from conftest import MAVERICK, raw_request

MSGS = [{"role": "user", "content": [{"text": "hello"}]}]


def _client(emulator, region, *, key=None, secret=None, sign_region=None, endpoint="http", **cfg):
    creds = emulator.endpoints["credentials"]
    return boto3.client(
        "bedrock-runtime",
        region_name=sign_region or region,
        endpoint_url=emulator.endpoints["regions"][region][endpoint],
        aws_access_key_id=key or creds["access_key_id"],
        aws_secret_access_key=secret or creds["secret_access_key"],
        verify=emulator.ca_file,
        config=Config(signature_version=cfg.pop("signature_version", "v4"), retries={"total_max_attempts": 1}, **cfg),
    )


def test_wrong_secret_rejected(emulator):
    client = _client(emulator, "us-east-1", secret="not-the-secret")
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MAVERICK, messages=MSGS)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key_rejected(emulator):
    client = _client(emulator, "us-east-1", key="AKIAUNKNOWN")
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MAVERICK, messages=MSGS)
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["Error"]["Message"] == "The security token included in the request is invalid."


def test_wrong_region_scope_rejected(emulator):
    client = _client(emulator, "us-east-1", sign_region="us-west-2")  # us-west-2 scope sent to us-east-1
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MAVERICK, messages=MSGS)
    assert info.value.response["Error"]["Message"] == "Credential should be scoped to a valid region."


def test_tampered_body_rejected(emulator):
    region = emulator.endpoints["regions"]["us-east-1"]
    creds = emulator.endpoints["credentials"]
    status, _headers, _ = raw_request(region["http"], MAVERICK, "converse", {"messages": MSGS}, region="us-east-1",
                                     creds=creds)
    assert status == 200
    # sign one body, send another: the payload hash no longer matches
    url = region["http"] + "/model/" + MAVERICK.replace(":", "%3A") + "/converse"
    req = AWSRequest("POST", url, data=b'{"messages": []}', headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"]), "bedrock", "us-east-1").add_auth(req)
    parts = urlsplit(region["http"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("POST", urlsplit(url).path, body=b'{"messages": [1]}', headers=dict(req.headers.items()))
    resp = conn.getresponse()
    assert resp.status == 403 and resp.getheader("x-amzn-ErrorType").startswith("InvalidSignatureException")
    conn.close()


def test_unsigned_requests_never_served(emulator):
    region = emulator.endpoints["regions"]["us-east-1"]
    for scheme in ("http", "https"):
        status, headers, _ = raw_request(region[scheme], MAVERICK, "converse", {"messages": MSGS},
                                         region="us-east-1", creds=None, ca_file=emulator.ca_file)
        assert status == 403
        assert headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")
    client = _client(emulator, "us-east-1", signature_version=botocore.UNSIGNED)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MAVERICK, messages=MSGS)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_bad_api_key_rejected(emulator):
    region = emulator.endpoints["regions"]["us-east-1"]
    status, _headers, body = raw_request(region["https"], MAVERICK, "converse", {"messages": MSGS},
                                        region="us-east-1", creds=None, ca_file=emulator.ca_file,
                                        extra_headers={"Authorization": "Bearer wrong-key"})
    assert status == 403 and b"Authentication failed: Please make sure your API Key is valid." in body


def test_bearer_over_http_refused_by_botocore_and_server(emulator, monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", emulator.credentials["api_key"])
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          endpoint_url=emulator.endpoints["regions"]["us-east-1"]["http"])
    with pytest.raises(InvalidEndpointConfigurationError):
        client.converse(modelId=MAVERICK, messages=MSGS)
    region = emulator.endpoints["regions"]["us-east-1"]
    status, _, _ = raw_request(region["http"], MAVERICK, "converse", {"messages": MSGS}, region="us-east-1",
                               creds=None, extra_headers={"Authorization": f"Bearer {emulator.credentials['api_key']}"})
    assert status == 403


def test_bearer_env_preferred_by_default(emulator, monkeypatch):
    """With the env var set and no in-code auth config, botocore sends the key; the emulator accepts it."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", emulator.credentials["api_key"])
    before = emulator.stats()["auth"].get("bearer", 0)
    client = boto3.client("bedrock-runtime", region_name="us-east-2", verify=emulator.ca_file,
                          endpoint_url=emulator.endpoints["regions"]["us-east-2"]["https"],
                          aws_access_key_id="unused", aws_secret_access_key="unused")
    client.converse(modelId=MAVERICK, messages=MSGS)
    assert emulator.stats()["auth"]["bearer"] == before + 1


def test_auth_failures_counted(emulator):
    before = emulator.stats()["auth_failures"]
    client = _client(emulator, "us-west-2", secret="bad")
    with pytest.raises(ClientError):
        client.converse(modelId=MAVERICK, messages=MSGS)
    assert emulator.stats()["auth_failures"] == before + 1
