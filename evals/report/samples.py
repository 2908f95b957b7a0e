"""Errors by code and a bounded sample browser (failed, wrong and slowest requests).

Caps keep a 200k-record run's report (and the memory to build it) small: a few example messages per error
code, a few dozen items per browser list, and long texts cut (the full text stays in the records export).
Every text here is untrusted and is escaped by the template.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]

EXAMPLES_PER_CODE = 3
BROWSER_CAP = 25
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


def _item(r: Record) -> dict[str, Any]:
    return {
        "run_id": r.get("run_id"),
        "request_id": r.get("request_id"),
        "sample_id": cut(r.get("sample_id"), 200),
        "cell": f"{r['suite']} / {r['region']} / {r['api']} / {r['tier']}",
        "repeat": r.get("repeat"),
        "status": r["status"],
        "error_code": r.get("error_code"),
        "error_message": cut(r.get("error_message")),
        "attempts": r.get("attempts"),
        "latency_ms": r.get("latency_ms"),
        "prompt_chars": r.get("prompt_chars"),
        "prompt": cut(r.get("prompt")),
        "image_count": r.get("image_count") or 0,
        "image_bytes": r.get("image_bytes"),
        "image_pixels": r.get("image_pixels"),
        "image_formats": ", ".join(str(f) for f in r.get("image_formats") or []),
        "response_text": cut(r.get("response_text")),
        "expected": cut(r.get("expected")),
        "score": r.get("score"),
    }


class SamplePicker:
    """Sees every measured record once and keeps the browser's items only: bounded memory at any run size.

    Failed and wrong items are the first `cap` met (file order, i.e. completion order within a run); slowest
    is a size-`cap` heap on latency.
    """

    def __init__(self, cap: int = BROWSER_CAP) -> None:
        self.cap = cap
        self.failed: list[dict[str, Any]] = []
        self.wrong: list[dict[str, Any]] = []
        self.slow: list[tuple[float, int, dict[str, Any]]] = []
        self.totals = {"failed": 0, "wrong": 0}
        self._seen = 0

    def offer(self, r: Record) -> None:
        self._seen += 1
        if r["status"] != "ok":
            self.totals["failed"] += 1
            if len(self.failed) < self.cap:
                self.failed.append(_item(r))
            return
        if r.get("score") is not None and r["score"] < 1:
            self.totals["wrong"] += 1
            if len(self.wrong) < self.cap:
                self.wrong.append(_item(r))
        lat = r.get("latency_ms")
        if lat is not None and (len(self.slow) < self.cap or lat > self.slow[0][0]):
            entry = (float(lat), self._seen, _item(r))
            if len(self.slow) < self.cap:
                heapq.heappush(self.slow, entry)
            else:
                heapq.heapreplace(self.slow, entry)

    def result(self) -> dict[str, Any]:
        slowest = [item for _, _, item in sorted(self.slow, key=lambda e: (-e[0], e[1]))]
        return {
            "cap": self.cap,
            "failed": {"total": self.totals["failed"], "items": self.failed},
            "wrong": {"total": self.totals["wrong"], "items": self.wrong},
            "slowest": {"total": len(slowest), "items": slowest},
        }
