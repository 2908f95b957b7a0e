"""Errors by code, and cutting long texts for the page.

Caps keep a large run's report (and the memory to build it) small: counts come from the columns, a few
example messages per error code from the first failures read back whole, and long texts are cut (the full
text stays in the records export).
Every text here is untrusted and is escaped by the template.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from evals.results.rundata import RunData, full_records
from evals.results.table import CELL_FIELDS, Labels, RecordTable

EXAMPLES_PER_CODE = 3
EXAMPLE_ROWS = 20  # failures of each (code, class) read whole for their messages: the first ones in file order
TEXT_CAP = 2000


def cut(text: Any, limit: int = TEXT_CAP) -> str | None:
    """Text for the page: non-strings as JSON, long texts cut with the count of what was left out."""
    if text is None:
        return None
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[:limit] + f" … [{len(s) - limit} more characters]"


def _names(labels: Labels) -> tuple[list[str], np.ndarray]:
    """Each row's value as an id into a list of names, a missing or empty value named 'unknown'."""
    names: dict[str, int] = {}
    ids = np.array([names.setdefault(v or "unknown", len(names)) for v in labels.values]
                   + [names.setdefault("unknown", len(names))], dtype=np.int64)
    return list(names), ids[labels.codes]


def errors_by_code(runs: Sequence[RunData], table: RecordTable) -> list[dict[str, Any]]:
    """Counts per (error code, class) and the cells hit, from the columns of `table` (measured records of
    `runs`); up to three distinct example messages from the whole records of the first EXAMPLE_ROWS failures
    of each."""
    failed = np.flatnonzero(~table.ok)
    if failed.size == 0:
        return []
    codes, code_ids = _names(table.label("error_code").take(failed))
    classes, class_ids = _names(table.label("error_class").take(failed))
    keys = code_ids * len(classes) + class_ids
    distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    groups = []
    for k in np.argsort(first, kind="stable").tolist():  # in order of first failure, as ties are listed
        key = int(distinct[k])
        rows = failed[inverse.ravel() == k]
        cells = {" / ".join(map(str, cell)): int(idx.size) for cell, idx in table.take(rows).groups(CELL_FIELDS)}
        groups.append((codes[key // len(classes)], classes[key % len(classes)], rows, cells))
    picks = [(table, int(row)) for *_, rows, _ in groups for row in rows[:EXAMPLE_ROWS]]
    whole = iter(full_records(runs, picks))
    out = []
    for code, cls, rows, cells in groups:
        examples: list[str] = []
        for rec in [next(whole) for _ in range(min(rows.size, EXAMPLE_ROWS))]:
            msg = cut(rec.get("error_message"), 500)
            if msg is not None and msg not in examples and len(examples) < EXAMPLES_PER_CODE:
                examples.append(msg)
        out.append({"code": code, "class": cls, "count": int(rows.size), "cells": dict(sorted(cells.items())),
                    "examples": examples})
    return sorted(out, key=lambda row: (-row["count"], row["code"]))
