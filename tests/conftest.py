"""Shared fixtures: a running emulator and boto3 `bedrock-runtime` clients pointed at it.

- `emulator` (session): zero latency, synthetic engine, seed 1234. Its `.endpoints`, `.stats()`, `.reset()`.
- `make_client(region, auth="sigv4"|"bearer", emulator=None, **config_kwargs)`: a real boto3 client.
  sigv4 -> the region's plain-HTTP listener signed with the emulator's keys; bearer -> its HTTPS listener,
  `verify=ca_file`, the API key taken from AWS_BEARER_TOKEN_BEDROCK while the client is created.
  `config_kwargs` go to `botocore.config.Config` (default retries={"total_max_attempts": 1}: no retries;
  e.g. retries={"total_max_attempts": 3, "mode": "standard"}, read_timeout=1,
  parameter_validation=False). Pass `emulator=` to target an emulator a test started itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from evals.emulator import Emulator, EmulatorOptions

MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0"
MAVERICK_BARE = "meta.llama4-maverick-17b-instruct-v1:0"
LLAMA33 = "us.meta.llama3-3-70b-instruct-v1:0"


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
