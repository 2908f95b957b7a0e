"""Read a YAML file that must hold a mapping: model cards, suite definitions, emulator config and tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evals.errors import UserInputError


def read_yaml_mapping(path: Path, what: str, empty_ok: bool = False) -> dict[str, Any]:
    """The file's mapping; any problem is one UserInputError line naming the file and `what` it should be."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise UserInputError(f"{path}: cannot read {what}: {str(err).splitlines()[0]}") from None
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a {what} must be a mapping")
    return data
