"""An emulator started elsewhere (`target.endpoints_file=`): ask it what it serves, and refuse what it cannot honour.

A run cannot change the settings of an emulator it did not start, so `target.engine=oracle` against one running
the synthetic engine would silently measure something else. The run asks the emulator's admin endpoint for its
settings (`GET /settings`, with the admin token from the endpoints file), refuses any requested setting that
differs with one line, and records what the emulator reports, not what was asked.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.emulator.options import TARGET_SETTINGS
from evals.errors import UserInputError

TIMEOUT_S = 5.0
FIXED_AT_START = TARGET_SETTINGS  # target.* keys an emulator fixes at start (faults.* are compared one by one)


def read_endpoints(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserInputError(f"target.endpoints_file: cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("regions"), dict):
        raise UserInputError(f"target.endpoints_file: {path} is not an emulator endpoints file (no regions)")
    return data


def fetch_settings(endpoints: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The settings the emulator reports; one line when it does not answer (a stale endpoints file)."""
    admin = endpoints.get("admin")
    if not isinstance(admin, str) or not admin.startswith("http"):
        raise UserInputError(f"target.endpoints_file: {path} names no admin endpoint to ask for the settings")
    token = endpoints.get("admin_token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{admin}/settings", headers=headers),
                                    timeout=TIMEOUT_S) as resp:
            data = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raise UserInputError(f"target.endpoints_file: the emulator at {admin} refused its settings "
                             f"(HTTP {err.code}); is {path} this emulator's endpoints file?") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise UserInputError(f"target.endpoints_file: the emulator in {path} does not answer at {admin} "
                             f"({reason}); a stale endpoints file?") from None
    if not isinstance(data, dict):
        raise UserInputError(f"target.endpoints_file: the emulator at {admin} sent no settings")
    return data


def _differs(asked: Any, served: Any) -> bool:
    if isinstance(asked, int | float) and isinstance(served, int | float):
        return abs(float(asked) - float(served)) > 1e-12
    return asked != served


def check_honoured(asked: Mapping[str, Any], defaults: Mapping[str, Any], served: Mapping[str, Any],
                   regions: Sequence[str], path: Path) -> None:
    """Every target.* setting the run asks for (a value other than its default) must be what the emulator serves."""
    pairs = [(k, asked.get(k), defaults.get(k), served.get(k)) for k in FIXED_AT_START]
    faults_asked, faults_default = asked.get("faults") or {}, defaults.get("faults") or {}
    pairs += [(f"faults.{k}", v, faults_default.get(k), (served.get("faults") or {}).get(k))
              for k, v in faults_asked.items()]
    for key, want, default, have in pairs:
        if want is not None and _differs(want, default) and _differs(want, have):
            raise UserInputError(f"target.{key}: the emulator in {path} serves {have!r}, not {want!r}; "
                                 f"a run cannot change an emulator it did not start (restart it with that "
                                 f"setting, or drop target.{key})")
    served_regions = served.get("regions") or []
    for region in regions:
        if region not in served_regions:
            raise UserInputError(f"regions: the emulator in {path} serves {', '.join(served_regions)}, "
                                 f"not {region!r}")
