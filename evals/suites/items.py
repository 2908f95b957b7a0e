"""The raw item every source yields before templating: fields for the prompt plus answer, images and labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evals.types import ImageInput


@dataclass
class Item:
    """One task item as read or generated; `fields` feed the prompt template."""

    id: str
    fields: dict[str, Any]
    answer: Any = None
    images: tuple[ImageInput, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    cluster: str | None = None
