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


def _keys(table: RecordTable, rank: dict[str, int], span: int) -> np.ndarray:
    """One integer per record ordering as (sample id, repeat) does: the sample's rank among all sample ids
    (as text), then the repeat."""
    samples = table.label("sample_id")
    ranks = np.array([rank[str(v)] for v in samples.values] + [rank["None"]], dtype=np.int64)
    return ranks[samples.codes] * span + np.nan_to_num(table.num("repeat")).astype(np.int64)


def _outcomes(table: RecordTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(status is ok, score with NaN for none) of these rows."""
    return table.ok[rows], table.num("score")[rows]


def _matched(base: RecordTable, cand: RecordTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the first record of each (sample id, repeat) both arms ran, in item order, and which differ
    (one arm failed, or the scores differ)."""
    names = sorted({str(v) for t in (base, cand) for v in t.label("sample_id").values} | {"None"})
    rank = {name: i for i, name in enumerate(names)}
    span = int(max(np.nan_to_num(base.num("repeat")).max(initial=0),
                   np.nan_to_num(cand.num("repeat")).max(initial=0))) + 1
    kb, kc = _keys(base, rank, span), _keys(cand, rank, span)
    ub, first_b = np.unique(kb, return_index=True)  # unique keys come sorted: item order
    uc, first_c = np.unique(kc, return_index=True)
    _, ib, ic = np.intersect1d(ub, uc, assume_unique=True, return_indices=True)
    rb, rc = first_b[ib], first_c[ic]
    (okb, sb), (okc, sc) = _outcomes(base, rb), _outcomes(cand, rc)
    differs = (okb != okc) | ~((sb == sc) | (np.isnan(sb) & np.isnan(sc)))
    return rb, rc, differs


def side_by_side(cells: Mapping[Any, tuple[RecordTable, RecordTable]], runs: Sequence[RunData],
                 cap: int = CAP) -> dict[str, Any]:
    """{pairs, matched, differing, cap}: the shown pairs and how many items were matched and differ in all.

    Items are matched and compared on the columns; only the shown pairs are read back whole (texts included).
    """
    differing: list[tuple[str, RecordTable, int, RecordTable, int]] = []
    same: list[tuple[str, RecordTable, int, RecordTable, int]] = []
    matched = n_differ = 0
    for key, (base, cand) in cells.items():
        label = key.label() if hasattr(key, "label") else str(key)
        rb, rc, differs = _matched(base, cand)
        matched += rb.size
        n_differ += int(differs.sum())
        for group, mask in ((differing, differs), (same, ~differs)):
            room = cap - len(group)
            group += [(label, base, int(b), cand, int(c)) for b, c in zip(rb[mask][:room], rc[mask][:room],
                                                                           strict=True)]
    shown = (differing + same)[:cap]
    whole = full_records(runs, [pick for _, b_t, b, c_t, c in shown for pick in ((b_t, b), (c_t, c))])
    pairs = []
    for i, (label, base, b_row, _, _) in enumerate(shown):
        b, c = whole[2 * i], whole[2 * i + 1]
        sample, repeat = base.label("sample_id").at(b_row), int(np.nan_to_num(base.num("repeat")[b_row]))
        pairs.append({"cell": label, "sample": cut(str(sample), 200), "repeat": repeat,
                      "prompt": cut(b.get("prompt"), TEXT_CAP), "expected": cut(b.get("expected"), TEXT_CAP),
                      "base": _side(b), "cand": _side(c), "differs": i < len(differing)})
    return {"pairs": pairs, "matched": matched, "differing": n_differ, "cap": cap}
