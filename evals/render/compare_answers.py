"""Baseline and candidate answers to the same item, side by side, for compare.html.

Items are matched within each matched cell on (sample id, repeat). Items whose outcome differs come first
(one arm failed, or the scores differ), then the rest in item order, up to CAP pairs with texts cut at TEXT_CAP.
All text is untrusted; the compare template escapes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evals.results.rundata import RunData, full_records
from evals.results.table import RecordTable

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


def _first_by_item(table: RecordTable) -> dict[tuple[str, int], int]:
    """(sample id, repeat) -> the row of its first record in the table."""
    samples = table.label("sample_id")
    repeats = np.nan_to_num(table.num("repeat")).astype(np.int64)
    span = int(repeats.max(initial=0)) + 1
    keys = (samples.codes.astype(np.int64) + 1) * span + repeats
    _, first = np.unique(keys, return_index=True)
    return {(str(samples.at(row)), int(repeats[row])): int(row) for row in first.tolist()}


def _outcome(table: RecordTable, row: int) -> tuple[str | None, float | None]:
    score = float(table.num("score")[row])
    return table.label("status").at(row), None if np.isnan(score) else score


def side_by_side(cells: Mapping[Any, tuple[RecordTable, RecordTable]], runs: Sequence[RunData],
                 cap: int = CAP) -> dict[str, Any]:
    """{pairs, matched, differing, cap}: the shown pairs and how many items were matched and differ in all.

    Which items differ is decided on the columns; only the shown pairs are read back whole (texts included).
    """
    differing: list[tuple[str, tuple[str, int], RecordTable, int, RecordTable, int]] = []
    same: list[tuple[str, tuple[str, int], RecordTable, int, RecordTable, int]] = []
    for key, (base, cand) in cells.items():
        bx, cx = _first_by_item(base), _first_by_item(cand)
        label = key.label() if hasattr(key, "label") else str(key)
        for item in sorted(bx.keys() & cx.keys()):
            entry = (label, item, base, bx[item], cand, cx[item])
            (differing if _outcome(base, bx[item]) != _outcome(cand, cx[item]) else same).append(entry)
    shown = (differing + same)[:cap]
    whole = full_records(runs, [pick for _, _, *rest in shown for pick in ((rest[0], rest[1]), (rest[2], rest[3]))])
    pairs = []
    for i, (label, item, *_) in enumerate(shown):
        b, c = whole[2 * i], whole[2 * i + 1]
        pairs.append({"cell": label, "sample": cut(item[0], 200), "repeat": item[1],
                      "prompt": cut(b.get("prompt"), TEXT_CAP), "expected": cut(b.get("expected"), TEXT_CAP),
                      "base": _side(b), "cand": _side(c), "differs": i < len(differing)})
    return {"pairs": pairs, "matched": len(differing) + len(same), "differing": len(differing), "cap": cap}
