"""The local emulator's endpoints file, read into the URLs, CA file and keys a client needs for each region."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import UserInputError


@dataclass(frozen=True)
class RegionEndpoint:
    https: str | None
    http: str | None
    ca_file: str | None


@dataclass(frozen=True)
class LocalEndpoints:
    """The emulator's endpoints file. The keys are the emulator's own, kept out of repr and `describe()`."""

    regions: Mapping[str, RegionEndpoint]
    ca_file: str | None
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    api_key: str = field(repr=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LocalEndpoints:
        try:
            creds = data["credentials"]
            ca_file = data.get("ca_file")
            regions = {
                str(name): RegionEndpoint(
                    https=ep.get("https"), http=ep.get("http"), ca_file=ep.get("ca_file") or ca_file
                )
                for name, ep in data["regions"].items()
            }
            return cls(
                regions=regions,
                ca_file=ca_file,
                access_key_id=str(creds["access_key_id"]),
                secret_access_key=str(creds["secret_access_key"]),
                api_key=str(creds.get("api_key") or ""),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise UserInputError(f"emulator endpoints: malformed ({err!r})") from None

    @classmethod
    def from_file(cls, path: str | Path) -> LocalEndpoints:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UserInputError(f"{path}: cannot read emulator endpoints: {err}") from None
        return cls.from_mapping(data)
