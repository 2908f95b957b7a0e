"""The sample viewer's items: per cell the first failed, wrong and other requests, plus the slowest overall.

Bounded at any run size: at most PER_CELL items of each kind per cell, CAP items in all (cells share the cap
round-robin, so every cell keeps some), each text cut at TEXT_CAP characters. The page embeds the items as
escaped JSON text and a small script builds the list from it with textContent only (see viewer.js).
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.suites.images import THUMBNAILS_FILE

from .samples import cut

Record = Mapping[str, Any]

PER_CELL = 20  # items of each kind (failed, wrong, other) kept per cell
CAP = 600  # items on the page
SLOWEST = 25
TEXT_CAP = 4000  # characters of each prompt, response, expected answer or error message


def _cell(r: Record) -> str:
    return f"{r['suite']} / {r['region']} / {r['api']} / {r['tier']}"


def _kind(r: Record) -> str:
    if r["status"] != "ok":
        return "failed"
    score = r.get("score")
    if score is None:
        return "unscored"
    return "wrong" if score < 1 else "correct"


def viewer_item(r: Record) -> dict[str, Any]:
    """One request as the viewer shows it; every text is untrusted and only ever inserted as text."""
    return {
        "run": r.get("run_id"),
        "request": r.get("request_id"),
        "sample": cut(r.get("sample_id"), 200),
        "suite": r.get("suite"),
        "cell": _cell(r),
        "kind": _kind(r),
        "repeat": r.get("repeat"),
        "latency_ms": r.get("latency_ms"),
        "attempts": r.get("attempts"),
        "score": r.get("score") if r["status"] == "ok" else None,
        "error_code": r.get("error_code") if r["status"] != "ok" else None,
        "error": cut(r.get("error_message"), TEXT_CAP) if r["status"] != "ok" else None,
        "prompt_chars": r.get("prompt_chars"),
        "prompt": cut(r.get("prompt"), TEXT_CAP),
        "response": cut(r.get("response_text"), TEXT_CAP),
        "expected": cut(r.get("expected"), TEXT_CAP),
        "images": r.get("image_count") or 0,
    }


class ViewerPicker:
    """Sees every measured record once (file order) and keeps the viewer's items."""

    def __init__(self, per_cell: int = PER_CELL, cap: int = CAP) -> None:
        self.per_cell, self.cap = per_cell, cap
        self.kept: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        self.totals: dict[str, int] = defaultdict(int)
        self.slow: list[tuple[float, int, dict[str, Any]]] = []
        self._seen = 0

    def offer(self, r: Record) -> None:
        self._seen += 1
        kind = _kind(r)
        self.totals[kind] += 1
        bucket = self.kept[_cell(r)]["other" if kind in ("correct", "unscored") else kind]
        if len(bucket) < self.per_cell:
            bucket.append(viewer_item(r))
        lat = r.get("latency_ms")
        if r["status"] == "ok" and lat is not None and (len(self.slow) < SLOWEST or lat > self.slow[0][0]):
            entry = (float(lat), self._seen, viewer_item(r))
            (heapq.heappush if len(self.slow) < SLOWEST else heapq.heapreplace)(self.slow, entry)

    def items(self) -> list[dict[str, Any]]:
        """Failed first, then wrong, then others, cells taking turns; the slowest marked; at most `cap`."""
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, Any]] = set()
        for kind in ("failed", "wrong", "other"):
            queues = [list(self.kept[cell][kind]) for cell in sorted(self.kept)]
            while any(queues) and len(out) < self.cap:
                for q in queues:
                    if q and len(out) < self.cap:
                        item = q.pop(0)
                        seen.add((item["run"], item["request"]))
                        out.append(item)
        slowest = {(it["run"], it["request"]) for _, _, it in self.slow}
        for _, _, item in sorted(self.slow, key=lambda e: (-e[0], e[1])):
            if (item["run"], item["request"]) not in seen and len(out) < self.cap + SLOWEST:
                out.append(item)
        for item in out:
            item["slowest"] = (item["run"], item["request"]) in slowest
        return out


def load_thumbnails(run_dirs: Sequence[Path]) -> dict[str, list[str]]:
    """`suite\\tsample_id` -> JPEG data: URIs written by the run; unreadable or odd entries are skipped."""
    out: dict[str, list[str]] = {}
    for path in run_dirs:
        try:
            data = json.loads((Path(path) / THUMBNAILS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        for key, uris in data.items():
            if isinstance(uris, list):
                out.setdefault(str(key), [u for u in uris if isinstance(u, str)
                                          and u.startswith("data:image/jpeg;base64,")])
    return out


def viewer_data(picker: ViewerPicker, run_dirs: Sequence[Path]) -> dict[str, Any]:
    """What the page embeds: items, thumbnails of their samples, totals and the caps (stated on the page)."""
    items = picker.items()
    thumbs = load_thumbnails(run_dirs)
    wanted = {f"{it['suite']}\t{it['sample']}" for it in items if it["images"]}
    return {
        "items": items,
        "thumbnails": {k: v for k, v in thumbs.items() if k in wanted},
        "totals": dict(picker.totals),
        "caps": {"per_cell": picker.per_cell, "total": picker.cap, "slowest": SLOWEST, "text": TEXT_CAP},
    }
