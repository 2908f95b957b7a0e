"""The sample viewer's items: per cell the first failed, wrong and other requests, plus the slowest overall.

The items are picked from the columns and only they are read back whole (texts included) by their line.
Bounded at any run size: at most PER_CELL items of each kind per cell, CAP items in all (cells share the cap
round-robin, so every cell keeps some), each text cut at TEXT_CAP characters. The page embeds the items as
escaped JSON text and a small script builds the list from it with textContent only (see viewer.js).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evals.results.rundata import RunData, full_records
from evals.results.table import CELL_FIELDS, RecordTable
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


def _kinds(table: RecordTable) -> dict[str, np.ndarray]:
    """Each record's kind as masks: failed, wrong (score below 1), correct, unscored (answered, no score)."""
    score = table.num("score")
    ok = table.ok
    with np.errstate(invalid="ignore"):
        return {"failed": ~ok, "wrong": ok & (score < 1), "correct": ok & (score >= 1),
                "unscored": ok & np.isnan(score)}


def _round_robin(queues: list[list[int]], out: list[int], cap: int) -> None:
    """Append the queues' rows to `out`, cells taking turns, until they are empty or `out` holds `cap`."""
    while any(queues) and len(out) < cap:
        for q in queues:
            if q and len(out) < cap:
                out.append(q.pop(0))


def pick_rows(table: RecordTable, per_cell: int = PER_CELL, cap: int = CAP) -> tuple[list[int], set[int]]:
    """Rows of `table` (measured records, file order run by run) the viewer shows, and those among the slowest.

    Per cell the first `per_cell` failed, wrong and other (correct or unscored) requests; failed first, then
    wrong, then others, cells (in label order) taking turns, at most `cap`; then the SLOWEST slowest successful
    requests not already shown (ties: the earlier one)."""
    kinds = _kinds(table)
    kinds["other"] = kinds["correct"] | kinds["unscored"]
    groups = sorted(table.groups(CELL_FIELDS), key=lambda kv: " / ".join(str(v) for v in kv[0]))
    out: list[int] = []
    for kind in ("failed", "wrong", "other"):
        _round_robin([rows[kinds[kind][rows]][:per_cell].tolist() for _, rows in groups], out, cap)
    lat = np.where(table.ok, table.num("latency_ms"), np.nan)
    timed = np.flatnonzero(~np.isnan(lat))
    slowest = timed[np.lexsort((timed, -lat[timed]))[:SLOWEST]].tolist()
    shown = set(out)
    out += [row for row in slowest if row not in shown][:max(0, cap + SLOWEST - len(out))]
    return out, set(slowest)


def viewer_items(runs: Sequence[RunData], table: RecordTable, per_cell: int = PER_CELL,
                 cap: int = CAP) -> list[dict[str, Any]]:
    """The viewer's items: rows picked from the columns, then read back whole (one pass per run)."""
    rows, slowest = pick_rows(table, per_cell, cap)
    items = [viewer_item(rec) for rec in full_records(runs, [(table, row) for row in rows])]
    for row, item in zip(rows, items, strict=True):
        item["slowest"] = row in slowest
    return items


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


def viewer_data(runs: Sequence[RunData], table: RecordTable, per_cell: int = PER_CELL,
                cap: int = CAP) -> dict[str, Any]:
    """What the page embeds: items, thumbnails of their samples, totals and the caps (stated on the page).

    `table` holds the measured records of `runs`, run by run (`merged_table`)."""
    items = viewer_items(runs, table, per_cell, cap)
    thumbs = load_thumbnails([run.path for run in runs])
    wanted = {f"{it['suite']}\t{it['sample']}" for it in items if it["images"]}
    return {
        "items": items,
        "thumbnails": {k: v for k, v in thumbs.items() if k in wanted},
        "totals": {kind: n for kind, mask in _kinds(table).items() if (n := int(mask.sum()))},
        "caps": {"per_cell": per_cell, "total": cap, "slowest": SLOWEST, "text": TEXT_CAP},
    }
