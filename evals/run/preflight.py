"""Preflight: could a run on this target work? One check per line, each failure with what to do about it.

Asks the `bedrock` control plane (GetFoundationModel, GetInferenceProfile) through boto3 in every planned
region, so the same code checks real Bedrock and the emulator; nothing is invoked and nothing is charged.
Credentials are described by their source, never by value. A problem that makes every other check
meaningless (a missing profile, no credentials, credentials refused, no network) stops with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ProfileNotFound
from botocore.tokens import FrozenAuthToken

from evals.cards import STREAMING_APIS, ModelCard
from evals.run.card_checks import card_refusals
from evals.run.endpoints import LocalEndpoints

TOKEN_ENV = "AWS_BEARER_TOKEN_BEDROCK"
CLIENT_CONFIG = {"connect_timeout": 5, "read_timeout": 15, "retries": {"mode": "standard", "total_max_attempts": 2}}
# Errors that mean the credentials themselves were refused: nothing else can be checked with them.
REFUSED = ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
           "InvalidClientTokenId", "SignatureDoesNotMatch", "MissingAuthenticationTokenException")
CREDENTIAL_SOURCES = {
    "env": "environment keys (AWS_ACCESS_KEY_ID)", "shared-credentials-file": "shared credentials file",
    "config-file": "AWS config file", "sso": "IAM Identity Center (SSO)", "assume-role": "assumed role",
    "assume-role-with-web-identity": "web-identity role", "custom-process": "credential_process",
    "container-role": "container role", "iam-role": "instance role (IMDS)", "explicit": "explicit keys",
}


@dataclass(frozen=True)
class Check:
    status: str  # ok | warn | fail
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[self.status]
        return f"{mark}  {self.name:<22} {self.detail}" + (f" -> {self.fix}" if self.fix else "")


class Unready(Exception):
    """A check that makes the rest meaningless: one line, and the command exits 2."""


@dataclass(frozen=True)
class Plan:
    card: ModelCard
    apis: tuple[str, ...]
    regions: tuple[str, ...]
    tiers: tuple[str, ...]
    quota_scale: float = 1.0  # the emulator's multiplier on the card's quotas
    send_refused: bool = False  # run.send_refused: what the service refuses is sent on purpose (a warning)


class ControlPlane:
    """Boto3 `bedrock` clients for the target: the standard chain on AWS, the emulator's keys locally."""

    def __init__(self, endpoints: LocalEndpoints | None, auth: str) -> None:
        self.endpoints = endpoints
        self.bearer = _use_bearer(endpoints, auth)
        self.session = _session(endpoints, self.bearer)
        extra = {"signature_version": "bearer" if self.bearer else "v4"}
        self.config = Config(**CLIENT_CONFIG, **extra)

    def describe_credentials(self) -> Check:
        if self.endpoints is not None:
            how = "API key (bearer, https)" if self.bearer else "access keys (SigV4, http)"
            return Check("ok", "credentials", f"the emulator's own {how} from its endpoints")
        if self.bearer:
            return Check("ok", "credentials", f"Bedrock API key from {TOKEN_ENV} (bearer)")
        try:
            creds = self.session.get_credentials()
        except ProfileNotFound as err:
            raise Unready(f"credentials: AWS profile {err.kwargs.get('profile')!r} does not exist -> set "
                          "AWS_PROFILE to a profile in ~/.aws/config, or unset it") from None
        except BotoCoreError as err:
            raise Unready(f"credentials: {err}") from None
        if creds is None:
            raise Unready(f"credentials: none found -> set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                          f"or {TOKEN_ENV}, or run where an instance or container role is available")
        source = CREDENTIAL_SOURCES.get(creds.method, creds.method)
        profile = self.session.profile_name
        where = f"{source}, profile {profile}" if profile and profile != "default" else source
        return Check("ok", "credentials", f"{where} (SigV4)")

    def client(self, region: str, service: str = "bedrock") -> Any:
        kwargs: dict[str, Any] = {"region_name": region, "config": self.config}
        if self.endpoints is not None:
            ep = self.endpoints.regions.get(region)
            if ep is None:
                raise KeyError(region)
            url = ep.https if self.bearer else (ep.http or ep.https)
            kwargs["endpoint_url"] = url
            if url and url.startswith("https:"):
                kwargs["verify"] = ep.ca_file or self.endpoints.ca_file or True
            kwargs["aws_access_key_id"] = self.endpoints.access_key_id
            kwargs["aws_secret_access_key"] = self.endpoints.secret_access_key
        return self.session.client(service, **kwargs)


class _EmulatorToken:
    """The emulator's API key as this session's token provider (never placed in the environment)."""

    def __init__(self, token: str) -> None:
        self._token = FrozenAuthToken(token)

    def load_token(self, **_kwargs: Any) -> FrozenAuthToken:
        return self._token

    def __repr__(self) -> str:
        return "_EmulatorToken(***)"


def _use_bearer(endpoints: LocalEndpoints | None, auth: str) -> bool:
    if endpoints is not None:
        return auth == "bearer"
    if auth == "bearer" and not os.environ.get(TOKEN_ENV):
        raise Unready(f"credentials: target.auth=bearer but {TOKEN_ENV} is not set -> export the API key or "
                      "use target.auth=sigv4")
    return auth == "bearer" or (auth == "auto" and bool(os.environ.get(TOKEN_ENV)))


def _session(endpoints: LocalEndpoints | None, bearer: bool) -> boto3.Session:
    try:
        if endpoints is None or not bearer:
            return boto3.Session()
        core = botocore.session.Session()
        core.register_component("token_provider", _EmulatorToken(endpoints.api_key))
        return boto3.Session(botocore_session=core)
    except ProfileNotFound as err:
        raise Unready(f"credentials: AWS profile {err.kwargs.get('profile')!r} does not exist -> set AWS_PROFILE "
                      "to a profile in ~/.aws/config, or unset it") from None


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "")) or "Unknown"


def _call(region: str, fn: Callable[..., Any], **kwargs: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(response, None) or (None, error code); a refused credential or an unreachable endpoint stops here."""
    try:
        return fn(**kwargs), None
    except ClientError as err:
        code = _code(err)
        if code in REFUSED:
            raise Unready(f"credentials: refused by Bedrock in {region} ({code}) -> check the keys, the profile "
                          "or the API key, and the clock") from None
        return None, code
    except EndpointConnectionError as err:
        raise Unready(f"network: cannot reach {err.kwargs.get('endpoint_url', 'Bedrock')} -> check the network, "
                      "proxy (HTTPS_PROXY) and region name") from None
    except BotoCoreError as err:
        raise Unready(f"network: {region}: {err}") from None


def check_region(cp: ControlPlane, plan: Plan, region: str) -> list[Check]:
    """Model, streaming and routing in one region, from the service's own answers."""
    card = plan.card
    if cp.endpoints is not None and region not in cp.endpoints.regions:
        served = ", ".join(cp.endpoints.regions)
        return [Check("fail", f"model {region}", f"the emulator has no {region} listener (serves {served})",
                      f"drop {region} from regions=")]
    client = cp.client(region)
    got, code = _call(region, client.get_foundation_model, modelIdentifier=card.model_id)
    if got is None:
        if code == "AccessDeniedException":
            return [Check("warn", f"model {region}", "cannot read the model (AccessDeniedException)",
                          "allow bedrock:GetFoundationModel to check it; the run may still work")]
        return [Check("fail", f"model {region}", f"{card.model_id} is not offered in {region} ({code})",
                      _not_offered_fix(cp, card, region))]
    details = got["modelDetails"]
    streams = bool(details.get("responseStreamingSupported"))
    types = details.get("inferenceTypesSupported") or []
    status = (details.get("modelLifecycle") or {}).get("status", "?")
    checks = [Check("ok" if status == "ACTIVE" else "warn", f"model {region}",
                    f"{details.get('modelName', card.model_id)} {status}; streaming "
                    f"{'supported' if streams else 'not supported'}; inference {', '.join(types) or 'none listed'}",
                    "" if status == "ACTIVE" else "a LEGACY model is being retired: plan a replacement")]
    wanted = [a for a in plan.apis if a in STREAMING_APIS]
    if wanted and not streams:
        checks.append(Check("warn" if plan.send_refused else "fail", f"streaming {region}",
                            f"responseStreamingSupported is false; the plan has "
                            f"{', '.join(wanted)}", "drop the _stream APIs from apis="))
    if streams != card.streaming:
        checks.append(Check("warn", f"card {region}", f"card says streaming: {str(card.streaming).lower()}, the "
                            f"service says {str(streams).lower()}", f"correct streaming: in the {card.name} card"))
    checks.append(_access(client, card, region))
    checks.append(_routing(cp, card, region, types))
    return checks


def _access(client: Any, card: ModelCard, region: str) -> Check:
    """Model access (GetFoundationModelAvailability): authorised for this identity, entitled, agreement accepted."""
    got, code = _call(region, client.get_foundation_model_availability, modelId=card.model_id)
    if got is None:
        return Check("warn", f"access {region}", f"cannot read model access ({code})",
                     "allow bedrock:GetFoundationModelAvailability to check it; the run may still work")
    agreement = (got.get("agreementAvailability") or {}).get("status", "?")
    problems = [text for ok, text in (
        (got.get("authorizationStatus") == "AUTHORIZED", "this identity is not authorised for the model"),
        (got.get("entitlementAvailability") == "AVAILABLE", "model access is not granted to the account"),
        (agreement == "AVAILABLE", f"the model's agreement is {agreement}"),
        (got.get("regionAvailability") == "AVAILABLE", f"the model is not available in {region}"),
    ) if not ok]
    if problems:
        return Check("fail", f"access {region}", "; ".join(problems),
                     "request model access in the Bedrock console (Model access) and allow bedrock:InvokeModel "
                     "on the model and profile ARNs")
    return Check("ok", f"access {region}", "authorised, entitled, agreement accepted")


def _profiles_for(cp: ControlPlane, region: str, model_id: str) -> list[tuple[str, list[str]]]:
    """System-defined profiles starting in `region` that route to `model_id` (ListInferenceProfiles)."""
    out: list[tuple[str, list[str]]] = []
    try:
        for page in cp.client(region).get_paginator("list_inference_profiles").paginate(typeEquals="SYSTEM_DEFINED"):
            for profile in page.get("inferenceProfileSummaries", []):
                arns = [m.get("modelArn", "") for m in profile.get("models") or []]
                if any(arn.endswith(f"/{model_id}") for arn in arns):
                    out.append((profile["inferenceProfileId"], [arn.split(":")[3] for arn in arns]))
    except (ClientError, BotoCoreError):
        return []
    return out


def _not_offered_fix(cp: ControlPlane, card: ModelCard, region: str) -> str:
    """The card says the region serves the model and the target disagrees: say which side to correct."""
    if region not in card.source_regions:
        return f"drop {region} from regions=, or pick a region the model page lists"
    if cp.endpoints is not None:
        return (f"this emulator does not know the {card.name} card: start it with "
                f"`bedrock-evals emulator --card FILE`, or let the run start its own")
    return f"check the {card.name} card's model_id and regions against the Bedrock model page"


def _routing(cp: ControlPlane, card: ModelCard, region: str, types: Sequence[str]) -> Check:
    ident = card.invocation_id(region)
    if ident == card.model_id:
        if "ON_DEMAND" in types:
            return Check("ok", f"routing {region}", f"{ident} in-region on demand")
        found = _profiles_for(cp, region, card.model_id)
        fix = (f"add the inference profile {found[0][0]} (routes to {', '.join(found[0][1])}) to the card"
               if found else "the model has no inference profile starting here: pick another region")
        return Check("fail", f"routing {region}", f"{ident} is not served on demand in {region}", fix)
    got, code = _call(region, cp.client(region).get_inference_profile, inferenceProfileIdentifier=ident)
    if got is None:
        status = "warn" if code == "AccessDeniedException" else "fail"
        fix = ("allow bedrock:GetInferenceProfile to check it" if status == "warn"
               else f"drop {region} from regions=, or correct the card's profile routes")
        return Check(status, f"routing {region}", f"inference profile {ident}: {code}", fix)
    routes = [arn.split(":")[3] for arn in (m.get("modelArn", "") for m in got.get("models") or []) if arn]
    profile_status = got.get("status", "?")
    expected = next((p.routes[region] for p in card.inference_profiles if region in p.routes), ())
    if set(routes) != set(expected):
        return Check("warn", f"routing {region}", f"{ident} routes to {', '.join(routes)}; the card says "
                     f"{', '.join(expected)}", f"update the {card.name} card's routes")
    return Check("ok" if profile_status == "ACTIVE" else "warn", f"routing {region}",
                 f"{ident} ({profile_status}) routes to {', '.join(routes)}")


def check_plan(plan: Plan) -> list[Check]:
    """What the card says the service would refuse, one line each (shared with run validation)."""
    refusals = card_refusals(plan.card, plan.apis, plan.regions, plan.tiers)
    if not refusals:
        return [Check("ok", "plan", f"apis {', '.join(plan.apis)}; tiers {', '.join(plan.tiers)}: "
                                    f"all offered by {plan.card.name}")]
    if plan.send_refused:  # sent on purpose, to measure the service's own refusal
        return [Check("warn", "plan", r.message, "sent anyway (run.send_refused=true)") for r in refusals]
    return [Check("fail", "plan", r.message, f"change {r.key}=") for r in refusals]


def check_quotas(cp: ControlPlane, plan: Plan) -> list[Check]:
    """Account quotas from Service Quotas where they can be read; the card's values otherwise."""
    q = plan.card.quotas
    scale = plan.quota_scale
    card_values = (f"card: {q.requests_per_minute * scale:,.0f} requests/min, {q.tokens_per_minute * scale:,.0f} "
                   f"tokens/min, {q.tokens_per_day * scale:,.0f} tokens/day per region")
    if cp.endpoints is not None:
        return [Check("ok", "quotas", f"{card_values}, enforced by the emulator (Service Quotas is not emulated)")]
    if cp.bearer:
        return [Check("warn", "quotas", f"Service Quotas needs SigV4 credentials; {card_values}",
                      "set AWS_PROFILE or keys to read the account's quotas")]
    return [_account_quotas(cp, plan, region, card_values) for region in plan.regions]


def _account_quotas(cp: ControlPlane, plan: Plan, region: str, card_values: str) -> Check:
    name = (plan.card.display_name or plan.card.name).lower()
    found: list[str] = []
    try:
        pages = cp.client(region, "service-quotas").get_paginator("list_service_quotas")
        for page in pages.paginate(ServiceCode="bedrock"):
            found += [f"{item['QuotaName']} = {item['Value']:g}" for item in page.get("Quotas", [])
                      if name in str(item.get("QuotaName", "")).lower()]
    except ClientError as err:
        return Check("warn", f"quotas {region}", f"cannot read Service Quotas ({_code(err)}); {card_values}",
                     "allow servicequotas:ListServiceQuotas to compare with the account")
    except BotoCoreError as err:
        return Check("warn", f"quotas {region}", f"cannot read Service Quotas ({err}); {card_values}")
    if not found:
        return Check("warn", f"quotas {region}", f"Service Quotas lists nothing for {name!r}; {card_values}")
    return Check("ok", f"quotas {region}", "; ".join(found[:4]) + f" ({card_values})")


def run_checks(plan: Plan, endpoints: LocalEndpoints | None, auth: str) -> list[Check]:
    """All checks in order; raises Unready for a problem that stops everything."""
    cp = ControlPlane(endpoints, auth)
    checks = [cp.describe_credentials()]
    for region in plan.regions:
        checks += check_region(cp, plan, region)
    return checks + check_plan(plan) + check_quotas(cp, plan)
