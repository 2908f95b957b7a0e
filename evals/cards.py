"""Model cards (conf/model/*.yaml): the single source of model facts for the harness and the emulator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _tuple(value: Any) -> tuple:
    return tuple(value or ())


def card_from_mapping(data: Mapping[str, Any], origin: str = "model card", key_prefix: str = "") -> ModelCard:
    """Build a card from a parsed YAML mapping (or a Hydra node turned into a dict); `key_prefix` ("model.")
    names a bad value's key as the user typed it."""
    try:
        profiles = tuple(
            InferenceProfile(
                id=str(p["id"]),
                scope=str(p.get("scope", "geo")),
                routes={str(src): _tuple(dst) for src, dst in (p.get("routes") or {}).items()},
            )
            for p in data.get("inference_profiles") or ()
        )
        images = data.get("images") or {}
        quotas = data["quotas"]
        pricing = data["pricing"]
        return ModelCard(
            name=str(data["name"]),
            family=str(data["family"]),
            model_id=str(data["model_id"]),
            inference_profiles=profiles,
            in_region_on_demand=_tuple(data.get("in_region_on_demand")),
            apis=_tuple(data["apis"]),
            streaming=bool(data["streaming"]),
            service_tiers=_tuple(data.get("service_tiers") or ("default",)),
            performance_latency=_tuple(data.get("performance_latency") or ("standard",)),
            context_window=int(data["context_window"]),
            max_output_tokens=int(data["max_output_tokens"]),
            input_modalities=_tuple(data.get("input_modalities") or ("text",)),
            images=ImageLimits(
                formats=_tuple(images.get("formats")),
                max_count=int(images.get("max_count", 0)),
                max_bytes=int(images.get("max_bytes", 0)),
                max_side_px=int(images.get("max_side_px", 0)),
            ),
            quotas=Quotas(
                requests_per_minute=int(quotas["requests_per_minute"]),
                tokens_per_minute=int(quotas["tokens_per_minute"]),
                tokens_per_day=int(quotas["tokens_per_day"]),
            ),
            pricing=Pricing(
                input_per_1k=float(pricing["input_per_1k"]),
                output_per_1k=float(pricing["output_per_1k"]),
                currency=str(pricing.get("currency", "USD")),
                source=str(pricing.get("source", "")),
            ),
            display_name=str(data.get("display_name", "")),
            provider=str(data.get("provider", "")),
            emulator={str(k): float(v) for k, v in (data.get("emulator") or {}).items()},
            assumptions=_tuple(data.get("assumptions")),
        )
    except KeyError as err:
        raise UserInputError(f"{origin}: missing key {err.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as err:
        bad = _bad_number(data)
        if bad is not None:
            raise UserInputError(f"{key_prefix}{bad[0]}: must be {bad[1]}, got {bad[2]!r} ({origin})") from None
        raise UserInputError(f"{origin}: {err}") from None


# the card's numbers, by dotted key, so a value that is not a number is reported under its own key
_NUMBERS = {"context_window": int, "max_output_tokens": int, "images.max_count": int, "images.max_bytes": int,
            "images.max_side_px": int, "quotas.requests_per_minute": int, "quotas.tokens_per_minute": int,
            "quotas.tokens_per_day": int, "pricing.input_per_1k": float, "pricing.output_per_1k": float}


def _bad_number(data: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    """(key, expected kind, value) of the first number in a card mapping that does not parse."""
    for key, kind in _NUMBERS.items():
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            continue
        try:
            kind(node)
        except (TypeError, ValueError):
            return key, "an integer" if kind is int else "a number", node
    return None


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
