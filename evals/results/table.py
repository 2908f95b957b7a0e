"""Records as columns: the fields statistics read, one numpy array each, for every record of one or more runs.

Every command after a run (report, compare, gate, history) computes from a `RecordTable`, never from a list of
record dicts: a million records as dicts take gigabytes and seconds per pass, as columns a few hundred MiB and
milliseconds. Numbers are float64 with NaN for null; repeated texts (cells, status, items, error codes) are
`Labels`, integer codes into a tuple of distinct values. Texts shown to people (prompts, answers) are not
columns: the few records a page shows are read back whole by their line (`evals.results.rundir.read_lines`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from evals.results.schema import FLOAT_FIELDS, LABEL_FIELDS

CELL_FIELDS = ("suite", "region", "api", "tier")
C = TypeVar("C")


@dataclass(frozen=True)
class Labels:
    """A text column: `codes[i]` indexes `values`, -1 is null. Distinct values are stored once, interned."""

    codes: np.ndarray  # int32
    values: tuple[str, ...]

    @classmethod
    def from_texts(cls, texts: Iterable[Any]) -> Labels:
        index: dict[str, int] = {}
        codes = [-1 if t is None else index.setdefault(sys.intern(str(t)), len(index)) for t in texts]
        return cls(np.asarray(codes, dtype=np.int32), tuple(index))

    @classmethod
    def repeat(cls, value: str, n: int) -> Labels:
        return cls(np.zeros(n, dtype=np.int32), (sys.intern(value),))

    def __len__(self) -> int:
        return int(self.codes.size)

    def code(self, value: str | None) -> int:
        """The code of `value` (-1 for None); -2 (matching nothing) when absent."""
        if value is None:
            return -1
        try:
            return self.values.index(value)
        except ValueError:
            return -2

    def eq(self, value: str | None) -> np.ndarray:
        return self.codes == self.code(value)

    def isin(self, values: Iterable[str]) -> np.ndarray:
        return np.isin(self.codes, [self.code(v) for v in values])

    def at(self, i: int) -> str | None:
        c = int(self.codes[i])
        return self.values[c] if c >= 0 else None

    def texts(self) -> list[str | None]:
        lookup = [*self.values, None]  # code -1 reads the last entry
        return [lookup[c] for c in self.codes.tolist()]

    def present(self) -> list[str]:
        """The values that occur, in first-seen order of their codes."""
        used = np.unique(self.codes[self.codes >= 0])
        return [self.values[c] for c in used.tolist()]

    def take(self, idx: np.ndarray) -> Labels:
        return Labels(self.codes[idx], self.values)

    @staticmethod
    def concat(parts: Sequence[Labels]) -> Labels:
        """One column over several: each part's codes mapped into the union of their values."""
        index: dict[str, int] = {}
        out = []
        for part in parts:
            remap = np.array([index.setdefault(v, len(index)) for v in part.values] + [-1], dtype=np.int32)
            out.append(remap[part.codes])  # code -1 maps through the trailing -1
        codes = np.concatenate(out) if out else np.zeros(0, dtype=np.int32)
        return Labels(codes.astype(np.int32, copy=False), tuple(index))


class _Taken(Mapping[str, C]):
    """The columns of a table's rows at `idx`, each taken on first use: a cell or a sorted copy of a million-row
    table costs only the columns its statistics read."""

    def __init__(self, source: Mapping[str, C], idx: np.ndarray, take: Callable[[C, np.ndarray], C]) -> None:
        self._source, self._idx, self._take = source, idx, take
        self._done: dict[str, C] = {}

    def __getitem__(self, key: str) -> C:
        if key not in self._done:
            self._done[key] = self._take(self._source[key], self._idx)
        return self._done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)


def _take_array(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return a[idx]


def _take_labels(labels: Labels, idx: np.ndarray) -> Labels:
    return labels.take(idx)


@dataclass(frozen=True)
class RecordTable:
    """The statistics fields of a set of records, one column each, in file order run by run.

    `floats` holds every field of `FLOAT_FIELDS` (NaN for null), `labels` every field of `LABEL_FIELDS` plus
    `run_id`; `warmup` flags warm-up requests and `line` is each record's 1-based line in its run's
    records.jsonl. `itl_mean_ms` and `itl_gaps` summarise the inter-token gaps of streaming requests.
    """

    floats: Mapping[str, np.ndarray]
    labels: Mapping[str, Labels]
    warmup: np.ndarray  # bool
    line: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.warmup.size)

    def num(self, field: str) -> np.ndarray:
        return self.floats[field]

    def label(self, field: str) -> Labels:
        return self.labels[field]

    @property
    def ok(self) -> np.ndarray:
        return self.labels["status"].eq("ok")

    def take(self, idx: np.ndarray) -> RecordTable:
        """The rows at `idx` (an index array or a boolean mask), in that order."""
        return RecordTable(_Taken(self.floats, idx, _take_array), _Taken(self.labels, idx, _take_labels),
                           self.warmup[idx], self.line[idx])

    def measured(self) -> RecordTable:
        """Records that count in statistics: everything but warm-up requests."""
        return self if not self.warmup.any() else self.take(~self.warmup)

    def where(self, field: str, value: str | None) -> RecordTable:
        return self.take(self.labels[field].eq(value))

    def distinct(self, field: str) -> list[str]:
        return self.labels[field].present()

    def groups(self, fields: Sequence[str]) -> Iterator[tuple[tuple[str | None, ...], np.ndarray]]:
        """(values of `fields`, row indices) for each distinct combination present, sorted by values."""
        if len(self) == 0:
            return
        cols = [self.labels[f] for f in fields]
        key = np.zeros(len(self), dtype=np.int64)  # one integer per combination of codes (null: code -1 -> 0)
        for col in cols:
            key = key * (len(col.values) + 1) + (col.codes + 1)
        keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
        rows = []
        for k, row in enumerate(first.tolist()):
            values = tuple(c.at(row) for c in cols)
            rows.append((values, order[bounds[k]:bounds[k + 1]]))
        rows.sort(key=lambda kv: tuple("" if v is None else v for v in kv[0]))
        yield from rows

    @staticmethod
    def concat(parts: Sequence[RecordTable]) -> RecordTable:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return empty_table()
        floats = [k for k in parts[0].floats if all(k in p.floats for p in parts)]  # the columns all parts read
        labels = [k for k in parts[0].labels if all(k in p.labels for p in parts)]
        return RecordTable({k: np.concatenate([p.floats[k] for p in parts]) for k in floats},
                           {k: Labels.concat([p.labels[k] for p in parts]) for k in labels},
                           np.concatenate([p.warmup for p in parts]), np.concatenate([p.line for p in parts]))


EXTRA_FLOATS = ("itl_mean_ms", "itl_gaps")
ALL_FIELDS = frozenset((*FLOAT_FIELDS, *EXTRA_FLOATS, *LABEL_FIELDS))


def empty_table() -> RecordTable:
    return RecordTable({k: np.zeros(0) for k in (*FLOAT_FIELDS, *EXTRA_FLOATS)},
                       {k: Labels(np.zeros(0, dtype=np.int32), ()) for k in (*LABEL_FIELDS, "run_id")},
                       np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64))


def table_from_dicts(records: Sequence[Mapping[str, Any]], run_id: str | None = None,
                     lines: Sequence[int] | None = None) -> RecordTable:
    """Columns built from parsed records (the careful path: files the fast reader refuses, records in memory)."""
    def number(v: Any) -> float:
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan

    floats = {k: np.array([number(r.get(k)) for r in records], dtype=float) for k in FLOAT_FIELDS}
    gaps: list[list[float]] = [r["itl_ms"] if isinstance(r.get("itl_ms"), list) else [] for r in records]
    floats["itl_gaps"] = np.array([len(g) for g in gaps], dtype=float)
    floats["itl_mean_ms"] = np.array([sum(g) / len(g) if g else np.nan for g in gaps], dtype=float)
    labels = {k: Labels.from_texts(r.get(k) for r in records) for k in LABEL_FIELDS}
    labels["run_id"] = (Labels.repeat(run_id, len(records)) if run_id is not None
                        else Labels.from_texts(r.get("run_id") for r in records))
    line = np.asarray(lines if lines is not None else range(1, len(records) + 1), dtype=np.int64)
    return RecordTable(floats, labels, np.array([bool(r.get("warmup")) for r in records], dtype=bool), line)
