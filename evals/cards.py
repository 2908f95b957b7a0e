"""Model cards (conf/model/*.yaml): the single source of model facts for the harness and the emulator.

A card file and a composed `model` node are checked against one schema, `evals.config_nodes.ModelCardNode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evals.config_nodes import ModelCardNode
from evals.errors import UserInputError
from evals.paths import MODEL_CARD_DIR
from evals.yamlfile import read_yaml_mapping

STREAMING_APIS = ("converse_stream", "invoke_stream")
ALL_APIS = ("converse", "invoke", "converse_stream", "invoke_stream")


@dataclass(frozen=True)
class InferenceProfile:
    id: str
    scope: str
    routes: Mapping[str, tuple[str, ...]]  # source region -> destination regions


@dataclass(frozen=True)
class ImageLimits:
    formats: tuple[str, ...] = ()
    max_count: int = 0
    max_bytes: int = 0
    max_side_px: int = 0


@dataclass(frozen=True)
class Quotas:
    requests_per_minute: int
    tokens_per_minute: int
    tokens_per_day: int


@dataclass(frozen=True)
class Pricing:
    input_per_1k: float
    output_per_1k: float
    currency: str = "USD"
    source: str = ""

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens / 1000 * self.input_per_1k + output_tokens / 1000 * self.output_per_1k


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    model_id: str
    inference_profiles: tuple[InferenceProfile, ...]
    in_region_on_demand: tuple[str, ...]
    apis: tuple[str, ...]
    streaming: bool
    service_tiers: tuple[str, ...]
    performance_latency: tuple[str, ...]
    context_window: int
    max_output_tokens: int
    input_modalities: tuple[str, ...]
    images: ImageLimits
    quotas: Quotas
    pricing: Pricing
    display_name: str = ""
    provider: str = ""
    emulator: Mapping[str, float] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()

    @property
    def source_regions(self) -> tuple[str, ...]:
        """Regions a client may call: the in-region ones plus every profile's source regions, in card order."""
        seen: dict[str, None] = dict.fromkeys(self.in_region_on_demand)
        for profile in self.inference_profiles:
            seen.update(dict.fromkeys(profile.routes))
        return tuple(seen)

    def supported_apis(self) -> tuple[str, ...]:
        """APIs this card allows, streaming forms included only when the card streams."""
        out = list(self.apis)
        if self.streaming:
            out += [f"{api}_stream" for api in self.apis]
        return tuple(out)

    def invocation_id(self, region: str) -> str:
        """The id to send from `region`: the geo profile when the region is one of its sources, else the bare id."""
        for profile in self.inference_profiles:
            if region in profile.routes:
                return profile.id
        return self.model_id

    def destinations(self, model_or_profile_id: str, region: str) -> tuple[str, ...] | None:
        """Where a request for this id sent to `region` may be served; None when it is not served there."""
        if model_or_profile_id == self.model_id:
            return (region,) if region in self.in_region_on_demand else None
        for profile in self.inference_profiles:
            if model_or_profile_id == profile.id:
                return profile.routes.get(region)
        return None

    def known_ids(self) -> tuple[str, ...]:
        return (self.model_id, *(p.id for p in self.inference_profiles))


def card_from_mapping(data: Mapping[str, Any], origin: str = "model card", key_prefix: str = "") -> ModelCard:
    """Build a card from a parsed YAML mapping (or a Hydra node turned into a dict), checked against the one card
    schema, `ModelCardNode`; `key_prefix` ("model.") names a bad value's key as the user typed it."""
    card = _checked(data, origin, key_prefix)
    images, quotas, pricing = card["images"], card["quotas"], card["pricing"]
    return ModelCard(
        name=card["name"],
        family=card["family"],
        model_id=card["model_id"],
        inference_profiles=tuple(
            InferenceProfile(id=p["id"], scope=p["scope"], routes={src: tuple(dst) for src, dst in p["routes"].items()})
            for p in card["inference_profiles"]
        ),
        in_region_on_demand=tuple(card["in_region_on_demand"]),
        apis=tuple(card["apis"]),
        streaming=card["streaming"],
        service_tiers=tuple(card["service_tiers"]),
        performance_latency=tuple(card["performance_latency"]),
        context_window=card["context_window"],
        max_output_tokens=card["max_output_tokens"],
        input_modalities=tuple(card["input_modalities"]),
        images=ImageLimits(formats=tuple(images["formats"]), max_count=images["max_count"],
                           max_bytes=images["max_bytes"], max_side_px=images["max_side_px"]),
        quotas=Quotas(**quotas),
        pricing=Pricing(**pricing),
        display_name=card["display_name"],
        provider=card["provider"],
        emulator=dict(card["emulator"]),
        assumptions=tuple(card["assumptions"]),
    )


def _checked(data: Mapping[str, Any], origin: str, key_prefix: str) -> dict[str, Any]:
    """The mapping merged into the card schema: unknown keys, wrong types and missing values are one line."""
    if not isinstance(data, Mapping):
        raise UserInputError(f"{origin}: a model card must be a mapping")
    try:
        node = OmegaConf.merge(OmegaConf.structured(ModelCardNode), dict(data))
    except OmegaConfBaseException as err:
        key = f"{key_prefix}{err.full_key}" if getattr(err, "full_key", None) else key_prefix.rstrip(".") or "card"
        raise UserInputError(f"{origin}: {key}: {str(err).splitlines()[0]}") from None
    missing = sorted(OmegaConf.missing_keys(node))
    if missing:
        raise UserInputError(f"{origin}: {key_prefix}{missing[0]}: missing a value (required)")
    return cast(dict[str, Any], OmegaConf.to_container(node))


def load_card_file(path: Path) -> ModelCard:
    return card_from_mapping(read_yaml_mapping(path, "model card"), origin=str(path))


def load_cards(card_dir: Path = MODEL_CARD_DIR) -> dict[str, ModelCard]:
    """All cards in a directory, keyed by card name."""
    cards = [load_card_file(p) for p in sorted(card_dir.glob("*.yaml"))]
    return {card.name: card for card in cards}


def load_card(name: str, card_dir: Path = MODEL_CARD_DIR) -> ModelCard:
    path = card_dir / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in card_dir.glob("*.yaml")))
        raise UserInputError(f"model={name}: no model card {path} (known: {known})")
    return load_card_file(path)
