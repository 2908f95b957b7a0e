"""Model id resolution: which card a path's model id names and where a region may serve it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from evals.cards import ModelCard
from evals.emulator.wire import BedrockError

INVALID_ID = "The provided model identifier is invalid."
NO_COUNT_TOKENS = "The provided model doesn't support counting tokens."
ON_DEMAND = (
    "Invocation of model ID {model_id} with on-demand throughput isn\u2019t supported. Retry your request with "
    "the ID or ARN of an inference profile that contains this model."
)


@dataclass(frozen=True)
class Route:
    card: ModelCard
    requested_id: str
    destinations: tuple[str, ...]


def _bare(model_id: str) -> str:
    """Accept ARNs (`arn:aws:bedrock:REGION:ACCOUNT:inference-profile/ID` or `.../foundation-model/ID`)."""
    if model_id.startswith("arn:") and "/" in model_id:
        return model_id.rsplit("/", 1)[1]
    return model_id


def resolve(cards: Mapping[str, ModelCard], model_id: str, region: str) -> Route:
    """Find the card and destination regions, or raise the ValidationException Bedrock gives.

    A profile whose routes do not include the listener's region does not exist there, so Bedrock answers
    "The provided model identifier is invalid." (the same as for an unknown id).
    """
    bare = _bare(model_id)
    for card in cards.values():
        if bare not in card.known_ids():
            continue
        dests = card.destinations(bare, region)
        if dests:
            return Route(card, bare, tuple(dests))
        if bare == card.model_id and any(region in p.routes for p in card.inference_profiles):
            raise BedrockError("ValidationException", ON_DEMAND.format(model_id=bare), kind="routing")
        raise BedrockError("ValidationException", INVALID_ID, kind="routing")
    raise BedrockError("ValidationException", INVALID_ID, kind="routing")


def resolve_count_tokens(cards: Mapping[str, ModelCard], model_id: str, region: str) -> ModelCard:
    """CountTokens names a foundation model (id or foundation-model ARN), never an inference profile.

    The API reference calls `modelId` "the unique identifier or ARN of the foundation model" and lists models by
    their base ids; a base id counts in any region the model is offered in (directly or through a profile).
    """
    bare = _bare(model_id)
    for card in cards.values():
        if bare == card.model_id:
            if region in card.source_regions:
                return card
            raise BedrockError("ValidationException", INVALID_ID, kind="routing")
        if bare in card.known_ids():
            raise BedrockError("ValidationException", NO_COUNT_TOKENS, kind="routing")
    raise BedrockError("ValidationException", INVALID_ID, kind="routing")
