"""Errors by code, and cutting long texts for the page.

Caps keep a 200k-record run's report (and the memory to build it) small: a few example messages per error
code and long texts cut (the full text stays in the records export).
Every text here is untrusted and is escaped by the template.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]

EXAMPLES_PER_CODE = 3
TEXT_CAP = 2000


def cut(text: Any, limit: int = TEXT_CAP) -> str | None:
    """Text for the page: non-strings as JSON, long texts cut with the count of what was left out."""
    if text is None:
        return None
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[:limit] + f" … [{len(s) - limit} more characters]"


def errors_by_code(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Counts per (error code, class), the cells hit, and up to three distinct example messages."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r["status"] == "ok":
            continue
        key = (str(r.get("error_code") or "unknown"), str(r.get("error_class") or "unknown"))
        g = groups.setdefault(key, {"count": 0, "cells": defaultdict(int), "examples": []})
        g["count"] += 1
        g["cells"][f"{r['suite']} / {r['region']} / {r['api']} / {r['tier']}"] += 1
        msg = cut(r.get("error_message"), 500)
        if msg is not None and msg not in g["examples"] and len(g["examples"]) < EXAMPLES_PER_CODE:
            g["examples"].append(msg)
    rows = [{"code": code, "class": cls, "count": g["count"], "cells": dict(sorted(g["cells"].items())),
             "examples": g["examples"]} for (code, cls), g in groups.items()]
    return sorted(rows, key=lambda row: (-row["count"], row["code"]))
