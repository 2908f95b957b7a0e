"""What a model card says the service would refuse: the one answer shared by `run` (refused before any request)
and `doctor` (reported as a check), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evals.cards import STREAMING_APIS, ModelCard


@dataclass(frozen=True)
class Refusal:
    """One cell dimension the card refuses: `key` is the config key to change, `message` says why."""

    key: str  # "apis" | "regions" | "tiers"
    value: str
    message: str

    def line(self) -> str:
        return f"{self.key}: {self.message}"


def card_refusals(card: ModelCard, apis: Sequence[str], regions: Sequence[str],
                  tiers: Sequence[str]) -> list[Refusal]:
    """Every API, region and tier of a planned run that the card says the service refuses, in config order."""
    out: list[Refusal] = []
    for api in apis:
        if api in STREAMING_APIS and not card.streaming:
            out.append(Refusal("apis", api, f"{api!r}: model card {card.name!r} does not support streaming "
                                            f"(its APIs: {', '.join(card.supported_apis())})"))
        elif api.removesuffix("_stream") not in card.apis:
            out.append(Refusal("apis", api, f"{api!r}: model card {card.name!r} does not offer it "
                                            f"(its APIs: {', '.join(card.supported_apis())})"))
    served = card.source_regions
    for region in regions:
        if region not in served:
            out.append(Refusal("regions", region, f"{region!r}: model card {card.name!r} is not served there "
                                                  f"(its regions: {', '.join(served) or 'none'})"))
    for tier in tiers:
        if tier not in card.service_tiers:
            out.append(Refusal("tiers", tier, f"{tier!r}: model card {card.name!r} does not offer this service "
                                              f"tier (its tiers: {', '.join(card.service_tiers)})"))
    return out
