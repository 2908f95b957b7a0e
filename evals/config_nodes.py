"""The structured-config nodes of a model card (`model`) and a suite (`suite`): their keys and types.

OmegaConf checks a composed card or suite node against these as Hydra composes it, so an unknown key or a
value of the wrong type is one line naming the key, like every other config key. They hold what
`evals.cards.card_from_mapping` and `evals.suites.loader` accept, and only that; the rules across keys (a
region the card does not serve, max_tokens over the card's limit, a generator's own parameters) stay with the
code that knows them. Plain dataclasses: the suite loader reads its key lists from them without importing Hydra.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import MISSING

# ------------------------------------------------------------------------------------------------ model card


@dataclass
class InferenceProfileNode:
    id: str = MISSING
    scope: str = "geo"
    routes: dict[str, list[str]] = field(default_factory=dict)  # source region -> destination regions


@dataclass
class ImageLimitsNode:
    formats: list[str] = field(default_factory=list)
    max_count: int = 0
    max_bytes: int = 0
    max_side_px: int = 0


@dataclass
class QuotasNode:
    requests_per_minute: int = MISSING
    tokens_per_minute: int = MISSING
    tokens_per_day: int = MISSING


@dataclass
class PricingNode:
    input_per_1k: float = MISSING
    output_per_1k: float = MISSING
    currency: str = "USD"
    source: str = ""


@dataclass
class ModelCardNode:
    """A model card as `conf/model/*.yaml` writes it (docs/model-cards.md); MISSING keys are required."""

    name: str = MISSING
    family: str = MISSING  # selects the InvokeModel body builder and chat template
    model_id: str = MISSING
    display_name: str = ""
    provider: str = ""
    in_region_on_demand: list[str] = field(default_factory=list)
    inference_profiles: list[InferenceProfileNode] = field(default_factory=list)
    apis: list[str] = MISSING
    streaming: bool = MISSING
    service_tiers: list[str] = field(default_factory=lambda: ["default"])
    performance_latency: list[str] = field(default_factory=lambda: ["standard"])
    context_window: int = MISSING
    max_output_tokens: int = MISSING
    input_modalities: list[str] = field(default_factory=lambda: ["text"])
    output_modalities: list[str] = field(default_factory=lambda: ["text"])
    images: ImageLimitsNode = field(default_factory=ImageLimitsNode)
    quotas: QuotasNode = field(default_factory=QuotasNode)
    pricing: PricingNode = field(default_factory=PricingNode)
    emulator: dict[str, float] = field(default_factory=dict)  # the synthetic engine's calibration
    assumptions: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------- suite


@dataclass
class ParamsNode:
    """Inference parameters; None keeps the definition's value (or the service's default)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: Any = None  # a string or a list of strings


@dataclass
class DatasetNode:
    """A Hugging Face dataset, as `datasets.load_dataset` takes it (suite=hf)."""

    path: str | None = None
    name: str | None = None
    split: str | None = None
    revision: str | None = None
    data_files: Any = None
    cache_dir: str | None = None


@dataclass
class FieldsNode:
    """Which record fields hold the item id, the answer and the metadata."""

    id: str | None = None
    answer: str | None = None
    meta: str | None = None


@dataclass
class SuiteNode:
    """A suite as `conf/suite/*.yaml` writes it (docs/suites.md). Every key may be None: None keeps the value
    of the definition it names (`definition`), so a node sets only what it overrides."""

    name: str | None = None
    definition: str | None = None  # a built-in name or a YAML file; None: the node itself is the definition
    version: str | None = None
    source: str | None = None  # jsonl | generator | hf
    description: str | None = None
    path: str | None = None  # jsonl: the data file
    dataset: DatasetNode | None = None
    generator: dict[str, Any] | None = None  # the generator's own parameters, checked against its signature
    fields: FieldsNode | None = None
    answer_letters: bool | None = None
    images: Any = None  # the image field's name, or {field: NAME}
    cluster: str | None = None
    prompt: str | None = None
    system: str | None = None
    params: ParamsNode | None = None
    scorer: Any = None  # a scorer name (or {name, params}) replacing the definition's scorers
    scorers: list[Any] | None = None
    sample_size: int | None = None
    seed: int | None = None


def node_keys(node: type) -> frozenset[str]:
    """The keys a node dataclass allows."""
    return frozenset(f.name for f in fields(node))
