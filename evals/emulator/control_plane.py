"""The `bedrock` control-plane calls a preflight check makes, answered from the model cards.

GetFoundationModel, GetFoundationModelAvailability, GetInferenceProfile and ListInferenceProfiles (restJson,
GET, shapes from botocore's `bedrock` service model) are served on every region's listener next to the runtime
calls, so `doctor` can be tested offline through an unmodified boto3 `bedrock` client. What a region offers
follows the card: a model is found in the regions it is served in (in-region on demand, or as a geo profile's
source or destination), and a profile exists only in its source regions, where it routes to its destinations.
Every model served is available to the emulator's one identity (authorised, entitled, agreement accepted).

Assumed, not sourced: the error code and message for a model or profile a region does not offer
(ResourceNotFoundException); `INFERENCE_PROFILE` in `inferenceTypesSupported` for a region that reaches the
model only through a profile (what the service lists for such models, though botocore's enum lacks it); and
the fixed account id and timestamps in ARNs and profile summaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from evals.cards import InferenceProfile, ModelCard
from evals.emulator.auth import Secrets, authenticate
from evals.emulator.wire import BedrockError, error_headers, json_bytes

ACCOUNT_ID = "111122223333"  # the documentation account id: the emulator has no account
PROFILE_DATE = "2025-01-01T00:00:00Z"
PREFIXES = ("/foundation-models", "/foundation-model-availability", "/inference-profiles")
MAX_RESULTS = 1000


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_control_plane(raw_path: str) -> bool:
    """True for the paths this module serves (the runtime paths all start with /model/)."""
    path = raw_path.split("?", 1)[0]
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


def serve(cards: Mapping[str, ModelCard], secrets: Secrets, method: str, raw_path: str, headers: dict[str, str],
          body: bytes, *, region: str, scheme: str, rid: str) -> Answer:
    """Authenticate like a runtime call (SigV4 scoped to `bedrock`, or a bearer key on HTTPS), then answer."""
    try:
        authenticate(method, raw_path, headers, body, scheme=scheme, region=region, secrets=secrets)
    except BedrockError as err:
        return Answer(err.status, error_headers(err, rid), err.body())
    return answer(cards, method, raw_path, region, rid)


def answer(cards: Mapping[str, ModelCard], method: str, raw_path: str, region: str, rid: str) -> Answer:
    """The response to one authenticated control-plane request sent to `region`'s listener."""
    try:
        if method != "GET":
            raise BedrockError("UnknownOperationException", "UnknownOperationException", kind="routing")
        path, _, query = raw_path.partition("?")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "foundation-models" and len(parts) == 2:
            payload = {"modelDetails": _model_details(_find_model(cards, parts[1], region), region)}
        elif parts[0] == "foundation-model-availability" and len(parts) == 2:
            payload = _availability(_find_model(cards, parts[1], region))
        elif parts[0] == "inference-profiles" and len(parts) == 2:
            card, profile = _find_profile(cards, parts[1], region)
            payload = _profile_summary(card, profile, region)
        elif parts == ["inference-profiles"]:
            payload = _list_profiles(cards, region, parse_qs(query))
        else:
            raise BedrockError("UnknownOperationException", "UnknownOperationException", kind="routing")
    except BedrockError as err:
        return Answer(err.status, error_headers(err, rid), err.body())
    return Answer(200, [("Content-Type", "application/json"), ("x-amzn-RequestId", rid)], json_bytes(payload))


def _bare(identifier: str) -> str:
    return identifier.rsplit("/", 1)[1] if identifier.startswith("arn:") and "/" in identifier else identifier


def _offered_in(card: ModelCard) -> set[str]:
    regions = set(card.in_region_on_demand)
    for profile in card.inference_profiles:
        regions.update(profile.routes)
        for destinations in profile.routes.values():
            regions.update(destinations)
    return regions


def _find_model(cards: Mapping[str, ModelCard], identifier: str, region: str) -> ModelCard:
    bare = _bare(identifier)
    for card in cards.values():
        if card.model_id == bare and region in _offered_in(card):
            return card
    raise BedrockError("ResourceNotFoundException", f"The model {bare} was not found in {region}.",
                       kind="routing")


def _find_profile(cards: Mapping[str, ModelCard], identifier: str,
                  region: str) -> tuple[ModelCard, InferenceProfile]:
    bare = _bare(identifier)
    for card in cards.values():
        for profile in card.inference_profiles:
            if profile.id == bare and region in profile.routes:
                return card, profile
    raise BedrockError("ResourceNotFoundException", f"The inference profile {bare} was not found in {region}.",
                       kind="routing")


def model_arn(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def _model_details(card: ModelCard, region: str) -> dict[str, Any]:
    types = ["ON_DEMAND"] if region in card.in_region_on_demand else []
    if any(region in p.routes for p in card.inference_profiles):
        types.append("INFERENCE_PROFILE")
    return {
        "modelArn": model_arn(region, card.model_id),
        "modelId": card.model_id,
        "modelName": card.display_name or card.name,
        "providerName": card.provider.title() or "Unknown",
        "inputModalities": [m.upper() for m in card.input_modalities],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": card.streaming,
        "customizationsSupported": [],
        "inferenceTypesSupported": types,
        "modelLifecycle": {"status": "ACTIVE"},
    }


def _availability(card: ModelCard) -> dict[str, Any]:
    """The emulator grants every model it serves: authorised, entitled, agreement accepted."""
    return {"modelId": card.model_id, "agreementAvailability": {"status": "AVAILABLE"},
            "authorizationStatus": "AUTHORIZED", "entitlementAvailability": "AVAILABLE",
            "regionAvailability": "AVAILABLE"}


def _profile_summary(card: ModelCard, profile: InferenceProfile, region: str) -> dict[str, Any]:
    geo = profile.id.split(".", 1)[0].upper()
    name = card.display_name or card.name
    return {
        "inferenceProfileName": f"{geo} {name}",
        "description": f"Routes requests to {name} in {geo} regions.",
        "createdAt": PROFILE_DATE,
        "updatedAt": PROFILE_DATE,
        "inferenceProfileArn": f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{profile.id}",
        "models": [{"modelArn": model_arn(dest, card.model_id)} for dest in profile.routes[region]],
        "inferenceProfileId": profile.id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    }


def _list_profiles(cards: Mapping[str, ModelCard], region: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """System-defined profiles with `region` as a source, paged by an offset token."""
    try:
        limit = int(query.get("maxResults", [MAX_RESULTS])[0])
        start = int(query.get("nextToken", ["0"])[0])
    except ValueError:
        raise BedrockError("ValidationException", "maxResults and nextToken must be integers here.") from None
    if not 1 <= limit <= MAX_RESULTS or start < 0:
        raise BedrockError("ValidationException", f"maxResults must be between 1 and {MAX_RESULTS}.")
    kind = query.get("type", ["SYSTEM_DEFINED"])[0]
    summaries = [] if kind != "SYSTEM_DEFINED" else [
        _profile_summary(card, profile, region)
        for card in cards.values() for profile in card.inference_profiles if region in profile.routes
    ]
    page: dict[str, Any] = {"inferenceProfileSummaries": summaries[start:start + limit]}
    if start + limit < len(summaries):
        page["nextToken"] = str(start + limit)
    return page
