"""Sending requests through boto3 `bedrock-runtime` clients and timing them.

One client per region, shared by every worker thread (botocore clients are thread-safe). Retries are
botocore's own (standard, adaptive or legacy); per-attempt times come from botocore event hooks
(`evals.run.attempts`), so one client can serve many threads. Bodies are built before the clock starts.
Every failure, whatever raised it, comes back as an error `Outcome` with a code, a class and a message.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import EventStreamError
from botocore.tokens import FrozenAuthToken
from botocore.utils import get_token_from_environment

from evals.apis.converse import ConverseStreamAssembler, build_converse_kwargs, parse_converse
from evals.apis.invoke_llama import InvokeStreamAssembler, build_invoke_kwargs, parse_invoke
from evals.errors import UserInputError
from evals.run.attempts import (
    Attempts,
    describe_exception,
    error_outcome,
    make_outcome,
    register_hooks,
    track,
)
from evals.run.endpoints import LocalEndpoints
from evals.run.outcome import THROTTLE_CODES, Outcome
from evals.run.transport_settings import TransportSettings
from evals.types import API_CONVERSE, API_CONVERSE_STREAM, API_INVOKE, API_INVOKE_STREAM, Request

SERVICE = "bedrock-runtime"
SIGNING_NAME = "bedrock"


class _StaticToken:
    """Token provider for one botocore session: the emulator's API key, never placed in the process env."""

    METHOD = "evals-static"

    def __init__(self, token: str) -> None:
        self._token = FrozenAuthToken(token)

    def load_token(self, **_kwargs: Any) -> FrozenAuthToken:
        return self._token

    def __repr__(self) -> str:
        return "_StaticToken(***)"


class Transport:
    """Blocking, thread-safe `send`; one boto3 client per region, built lazily and reused.

    `endpoints` given: the local emulator (SigV4 over its http listener with its keys, or bearer over https
    with its CA file and API key; `auth="auto"` means SigV4). `endpoints` None: real Bedrock through the
    standard credential chain (`AWS_BEARER_TOKEN_BEDROCK`, env, profiles, roles).
    """

    def __init__(
        self,
        settings: TransportSettings,
        family: str,
        endpoints: LocalEndpoints | Mapping[str, Any] | None = None,
        concurrency: int = 1,
    ) -> None:
        self.settings = settings
        self.family = family
        if endpoints is not None and not isinstance(endpoints, LocalEndpoints):
            endpoints = LocalEndpoints.from_mapping(endpoints)
        self._endpoints: LocalEndpoints | None = endpoints
        self.target = "local" if endpoints is not None else "aws"
        self.auth = self._resolve_auth()
        self._pool = max(settings.max_pool_connections, concurrency)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session = self._make_session()
        self._config = Config(
            retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout_s,
            read_timeout=settings.read_timeout_s,
            max_pool_connections=self._pool,
            tcp_keepalive=True,
            **self._auth_config(),
        )

    # ----- construction -------------------------------------------------------------------------------

    def _resolve_auth(self) -> str:
        auth = self.settings.auth
        if self._endpoints is not None:
            if auth == "auto":
                return "sigv4"
            if auth == "bearer" and not self._endpoints.api_key:
                raise UserInputError("target.auth=bearer: the emulator endpoints carry no api_key")
            return auth
        if auth == "bearer" and get_token_from_environment(SIGNING_NAME) is None:
            raise UserInputError("target.auth=bearer: AWS_BEARER_TOKEN_BEDROCK is not set")
        if auth == "auto":
            return "bearer" if get_token_from_environment(SIGNING_NAME) is not None else "sigv4"
        return auth

    def _auth_config(self) -> dict[str, Any]:
        """Set the signer in code so an `AWS_BEARER_TOKEN_BEDROCK` in the env cannot override the choice."""
        if self.settings.auth == "auto" and self._endpoints is None:
            return {}
        return {"signature_version": "bearer" if self.auth == "bearer" else "v4"}

    def _make_session(self) -> boto3.Session:
        if self._endpoints is None:
            return boto3.Session()
        core = botocore.session.Session()
        if self.auth == "bearer":
            # Per-session token provider: the API key reaches only clients of this session.
            core.register_component("token_provider", _StaticToken(self._endpoints.api_key))
        return boto3.Session(botocore_session=core)

    def _build_client(self, region: str) -> Any:
        kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
        ep = self._endpoints
        if ep is not None:
            region_ep = ep.regions.get(region)
            if region_ep is None:
                raise KeyError(region)
            if self.auth == "bearer":
                if not region_ep.https:
                    raise UserInputError(f"emulator endpoints: region {region} has no https endpoint")
                kwargs["endpoint_url"] = region_ep.https
                kwargs["verify"] = region_ep.ca_file or ep.ca_file or True
            else:
                url = region_ep.http or region_ep.https
                if not url:
                    raise UserInputError(f"emulator endpoints: region {region} has no endpoint")
                kwargs["endpoint_url"] = url
                if url.startswith("https:"):
                    kwargs["verify"] = region_ep.ca_file or ep.ca_file or True
            # Explicit keys: the emulator's credentials stay in this client, never in env or files.
            kwargs["aws_access_key_id"] = ep.access_key_id
            kwargs["aws_secret_access_key"] = ep.secret_access_key
        client = self._session.client(SERVICE, **kwargs)
        register_hooks(client)
        return client

    def client(self, region: str) -> Any:
        """The region's client, created once (under a lock) and shared by all threads."""
        client = self._clients.get(region)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._build_client(region)
                self._clients[region] = client
        return client

    def describe(self) -> dict[str, Any]:
        """Reportable state for run.json: target, auth mode, endpoints and settings; never a secret."""
        out: dict[str, Any] = {
            "target": self.target,
            "auth": self.auth,
            "family": self.family,
            "retry_mode": self.settings.retry_mode,
            "max_attempts": self.settings.max_attempts,
            "connect_timeout_s": self.settings.connect_timeout_s,
            "read_timeout_s": self.settings.read_timeout_s,
            "max_pool_connections": self._pool,
            "invoke_body_style": self.settings.invoke_body_style,
        }
        if self._endpoints is not None:
            out["endpoints"] = {
                name: (ep.https if self.auth == "bearer" else ep.http or ep.https)
                for name, ep in self._endpoints.regions.items()
            }
        return out

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ----- sending ------------------------------------------------------------------------------------

    def build_kwargs(self, request: Request, metadata: Mapping[str, str]) -> dict[str, Any]:
        """The boto3 keyword arguments for `request` (also used by benchmarks to replay the same call)."""
        if request.api in (API_CONVERSE, API_CONVERSE_STREAM):
            return build_converse_kwargs(request, metadata)
        if request.api in (API_INVOKE, API_INVOKE_STREAM):
            return build_invoke_kwargs(request, self.family, metadata, self.settings.invoke_body_style)
        raise ValueError(f"unknown api {request.api!r}")

    def send(self, request: Request, t_intended_ns: int, metadata: Mapping[str, str]) -> Outcome:
        """Send one request and time it; never raises for a failed request (it becomes an error Outcome)."""
        try:
            kwargs = self.build_kwargs(request, metadata)
        except Exception as err:  # a body that cannot be built is this request's error, not the run's
            now = time.perf_counter_ns()
            return error_outcome(t_intended_ns, now, now, Attempts(), "BuildError", f"{type(err).__name__}: {err}",
                                 None)
        try:
            client = self.client(request.region)
        except KeyError:
            now = time.perf_counter_ns()
            msg = f"region {request.region} is not served by this target"
            return error_outcome(t_intended_ns, now, now, Attempts(), "UnknownRegion", msg, None)
        except Exception as err:
            now = time.perf_counter_ns()
            return error_outcome(t_intended_ns, now, now, Attempts(), type(err).__name__, str(err), None)
        return _timed_call(client, request.api, kwargs, t_intended_ns)


def _timed_call(client: Any, api: str, kwargs: dict[str, Any], t_intended_ns: int) -> Outcome:
    """One boto3 call with its attempts logged; a reply, or whatever went wrong, as an Outcome."""
    rec = Attempts()
    track(rec)
    t_call = time.perf_counter_ns()
    call = _Call()
    try:
        if api == API_CONVERSE:
            response = client.converse(**kwargs)
            # last byte in: read before botocore parsed it, so parsing is not counted as service latency
            t_done = rec.received[-1] if rec.received else time.perf_counter_ns()
            reply = parse_converse(response)
        elif api == API_INVOKE:
            response = client.invoke_model(**kwargs)
            body = response["body"].read()
            t_done = time.perf_counter_ns()
            reply = parse_invoke(body, response["ResponseMetadata"].get("HTTPHeaders"))
        else:
            response, t_done = _read_stream(client, api, kwargs, call)
            assembler = call.assembler
            assert assembler is not None  # set by _read_stream before the first event
            if not assembler.complete:
                msg = f"the event stream ended after {assembler.events} events without a stop reason"
                return error_outcome(t_intended_ns, t_call, t_done, rec, "IncompleteStream", msg, rec.last_status,
                                     assembler)
            reply = assembler.reply()
    except Exception as err:
        t_done = time.perf_counter_ns()
        if call.stream is not None:
            _close_quietly(call.stream)
        code, message, status = describe_exception(err, rec)
        if isinstance(err, EventStreamError) and code in THROTTLE_CODES:
            rec.throttles += 1  # a throttle inside a stream ends that attempt too
        return error_outcome(t_intended_ns, t_call, t_done, rec, code, message, status, call.assembler)
    finally:
        track(None)

    meta = response.get("ResponseMetadata") or {}
    return make_outcome(t_intended_ns, t_call, t_done, rec, call.assembler, reply=reply,
                        http_status=meta.get("HTTPStatusCode"), request_id=meta.get("RequestId"))


class _Call:
    """A streaming call's open stream and assembler, visible to the caller when reading it fails midway."""

    __slots__ = ("assembler", "stream")

    def __init__(self) -> None:
        self.stream: Any = None
        self.assembler: ConverseStreamAssembler | InvokeStreamAssembler | None = None


def _read_stream(client: Any, api: str, kwargs: dict[str, Any], call: _Call) -> tuple[Any, int]:
    """Open a ConverseStream or InvokeModelWithResponseStream call and read every event: (response, t_done)."""
    if api == API_CONVERSE_STREAM:
        response = client.converse_stream(**kwargs)
        call.stream = response["stream"]
        call.assembler = ConverseStreamAssembler()
    else:
        response = client.invoke_model_with_response_stream(**kwargs)
        call.stream = response["body"]
        call.assembler = InvokeStreamAssembler()
    feed: Callable[[Mapping[str, Any], int], None] = call.assembler.feed
    clock = time.perf_counter_ns
    t_last = 0
    for event in call.stream:
        t_last = clock()
        feed(event, t_last)
    call.stream = None
    return response, t_last or clock()  # when the last event was read


def _close_quietly(stream: Any) -> None:
    """Drop a half-read stream's connection; a failure to close must not hide the original error."""
    with contextlib.suppress(Exception):
        stream.close()
