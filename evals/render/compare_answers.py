"""Baseline and candidate answers to the same item, side by side, for compare.html.

Items are matched within each matched cell on (sample id, repeat). Items whose outcome differs come first
(one arm failed, or the scores differ), then the rest in item order, up to CAP pairs with texts cut at TEXT_CAP.
All text is untrusted; the compare template escapes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]

CAP = 60
TEXT_CAP = 2000


def cut(text: Any, limit: int) -> str | None:
    """Text for the page, long texts cut with the count of what was left out; non-strings as their str()."""
    if text is None:
        return None
    s = text if isinstance(text, str) else str(text)
    return s if len(s) <= limit else s[:limit] + f" … [{len(s) - limit} more characters]"


def _side(r: Record) -> dict[str, Any]:
    ok = r["status"] == "ok"
    return {
        "status": r["status"],
        "score": r.get("score") if ok else None,
        "error_code": None if ok else r.get("error_code"),
        "latency_ms": r.get("latency_ms"),
        "text": cut(r.get("response_text") if ok else r.get("error_message"), TEXT_CAP),
        "run_id": r.get("run_id"),
    }


def _first_by_item(recs: Sequence[Record]) -> dict[tuple[str, int], Record]:
    out: dict[tuple[str, int], Record] = {}
    for r in recs:
        out.setdefault((str(r.get("sample_id")), int(r.get("repeat") or 0)), r)
    return out


def _differs(base: Record, cand: Record) -> bool:
    return base["status"] != cand["status"] or base.get("score") != cand.get("score")


def side_by_side(cells: Mapping[Any, tuple[Sequence[Record], Sequence[Record]]], cap: int = CAP) -> dict[str, Any]:
    """{pairs, matched, differing, cap}: the shown pairs and how many items were matched and differ in all."""
    differing: list[dict[str, Any]] = []
    same: list[dict[str, Any]] = []
    matched = 0
    for key, (base, cand) in cells.items():
        bx, cx = _first_by_item(base), _first_by_item(cand)
        label = key.label() if hasattr(key, "label") else str(key)
        for item in sorted(bx.keys() & cx.keys()):
            matched += 1
            b, c = bx[item], cx[item]
            row = {"cell": label, "sample": cut(item[0], 200), "repeat": item[1],
                   "prompt": cut(b.get("prompt"), TEXT_CAP), "expected": cut(b.get("expected"), TEXT_CAP),
                   "base": _side(b), "cand": _side(c), "differs": _differs(b, c)}
            (differing if row["differs"] else same).append(row)
    return {"pairs": (differing + same)[:cap], "matched": matched, "differing": len(differing), "cap": cap}
