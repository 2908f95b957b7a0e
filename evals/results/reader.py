"""Read a records.jsonl into a `RecordTable`: pyarrow's JSON reader for well-formed files, line by line otherwise.

The fast path parses only the fields asked for (`explicit_schema`, other fields ignored) in C++, in 0.7x the time
of `json.loads` of every line at a million records and without a dict per record (`bench/bench_scale.py`,
docs/benchmarks.md). It proves a file
well formed on the way (valid UTF-8, one object per line, the required texts present, numbers where numbers
belong); anything it does not accept is read again by the careful path, `RunDirectory.iter_records`, which
either reads it exactly as before or names the file and line of the problem. A torn last line (a run killed
mid-write) is not a record on either path.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from evals.results.rundir import RunDirectory
from evals.results.schema import FLOAT_FIELDS, LABEL_FIELDS, RECORD_SCHEMA_VERSION, REQUIRED_TEXT
from evals.results.table import ALL_FIELDS, Labels, RecordTable, table_from_dicts

BLOCK = 1 << 20  # bytes per parse block: peak memory grows with it, speed stops improving past ~1 MiB
SCAN = 4 << 20  # bytes per read of the checking pass
PARALLEL_ABOVE = 32 << 20  # files larger than this are parsed in stretches on several threads

ALWAYS = ("schema", *REQUIRED_TEXT, "warmup")  # read whatever the caller asks for: they prove a line is a record


def _schema(floats: Sequence[str], labels: Sequence[str], itl: bool) -> pa.Schema:
    return pa.schema([(k, pa.float64()) for k in floats]
                     + [(k, pa.string()) for k in dict.fromkeys((*labels, *REQUIRED_TEXT))]
                     + [("warmup", pa.bool_())] + ([("itl_ms", pa.list_(pa.float64()))] if itl else []))


class _Refused(Exception):
    """The fast path does not accept this file; the careful path reads it."""


@dataclass(frozen=True)
class _Part:
    """A stretch of whole lines of the file, parsed by one thread into rows `first` to `first + rows`."""

    start: int
    size: int
    first: int
    rows: int


def _scan(path: Path, parts: int) -> list[_Part]:
    """The file's whole lines (a torn last line left out) cut into about `parts` stretches at newlines;
    refuses text that is not UTF-8.

    Chunks are cut at a newline, which never falls inside a multi-byte character; ASCII chunks need no
    decoding, others are checked by Arrow's UTF-8 validation (C++).
    """
    step = max(path.stat().st_size // parts, 1)
    cuts: list[tuple[int, int]] = [(0, 0)]  # (byte, line) where each stretch starts
    whole = lines = 0
    carry = b""
    with path.open("rb") as fh:
        while chunk := fh.read(SCAN):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            body, carry = data[:cut], data[cut:]
            if not body.isascii():
                try:
                    pa.array([body], pa.binary()).cast(pa.string())
                except pa.ArrowInvalid:
                    raise _Refused from None
            whole += len(body)
            lines += body.count(b"\n")
            if whole >= cuts[-1][0] + step and len(cuts) < parts:
                cuts.append((whole, lines))
    cuts.append((whole, lines))
    return [_Part(b0, b1 - b0, l0, l1 - l0) for (b0, l0), (b1, l1) in pairwise(cuts) if l1 > l0]


class _Range(io.RawIOBase):
    """`size` bytes of a file from `start`."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        self._fh = path.open("rb")
        self._fh.seek(start)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._fh.read(min(len(buffer), self._left))
        self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


class _LabelColumn:
    """A text column filled batch by batch into its part of `codes`: each batch's dictionary mapped into one
    growing set of values (one set per part; `_merged` joins the parts' sets)."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes
        self.index: dict[str, int] = {}

    def fill(self, at: int, column: pa.Array) -> None:
        encoded = column.dictionary_encode()
        remap = np.array([self.index.setdefault(v, len(self.index)) for v in encoded.dictionary.to_pylist()] + [-1],
                         dtype=np.int32)
        idx = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        self.codes[at:at + len(column)] = remap[idx]  # -1 (null) reads remap's trailing -1


def _merged(codes: np.ndarray, parts: Sequence[_Part], columns: Sequence[_LabelColumn]) -> Labels:
    """One `Labels` over every part: each part's codes mapped into the first part's growing set of values."""
    index = columns[0].index
    for part, col in zip(parts[1:], columns[1:], strict=True):
        remap = np.array([index.setdefault(v, len(index)) for v in col.index] + [-1], dtype=np.int32)
        rows = slice(part.first, part.first + part.rows)
        codes[rows] = remap[codes[rows]]
    return Labels(codes, tuple(sys.intern(v) for v in index))


def _itl(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(gaps per request, mean gap per request or NaN) of the inter-token gap lists."""
    n = len(column)
    gaps = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False).astype(float)
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(float)
    sums = np.bincount(np.repeat(np.arange(n), gaps.astype(np.int64)), weights=flat, minlength=n) if flat.size \
        else np.zeros(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gaps, np.where(gaps > 0, sums / np.maximum(gaps, 1), np.nan)


@dataclass(frozen=True)
class _Columns:
    """What the parse fills: numbers, the text columns' codes, warm-up flags; which fields are read."""

    floats: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    warmup: np.ndarray
    schema: pa.Schema
    itl: bool


def _fill(path: Path, part: _Part, out: _Columns) -> dict[str, _LabelColumn]:
    """Parse one stretch of the file into its rows of `out`; returns its text columns' values."""
    texts = {k: _LabelColumn(codes) for k, codes in out.codes.items()}
    unlabelled = [k for k in REQUIRED_TEXT if k not in texts]  # checked present, not kept (unique per record)
    numbers = [k for k in FLOAT_FIELDS if k in out.floats]
    source = _Range(path, part.start, part.size)
    at, end = part.first, part.first + part.rows
    try:
        options = pj.ParseOptions(explicit_schema=out.schema, unexpected_field_behavior="ignore")
        for batch in pj.open_json(source, read_options=pj.ReadOptions(block_size=BLOCK), parse_options=options):
            m = batch.num_rows
            if at + m > end or any(batch.column(k).null_count for k in unlabelled):
                raise _Refused  # two objects on one line, a record without its id: the careful path names it
            for k in numbers:
                out.floats[k][at:at + m] = batch.column(k).to_numpy(zero_copy_only=False)
            for k, col in texts.items():
                col.fill(at, batch.column(k))
            out.warmup[at:at + m] = pc.fill_null(batch.column("warmup"), False).to_numpy(zero_copy_only=False)
            if out.itl:
                out.floats["itl_gaps"][at:at + m], out.floats["itl_mean_ms"][at:at + m] = _itl(batch.column("itl_ms"))
            at += m
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Refused from None
    finally:
        source.close()
    if at != end:  # blank lines: the careful path names the line
        raise _Refused
    return texts


def _threads() -> int:
    """Parse threads: pyarrow's streaming reader is single-threaded and releases the GIL, so stretches of one
    file parse in parallel on the cores this process may use (at most 4)."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def _fast(path: Path, run_id: str, wanted: Collection[str]) -> RecordTable:
    parts = _scan(path, _threads() if path.stat().st_size > PARALLEL_ABOVE else 1)
    n = sum(p.rows for p in parts)
    if n == 0:
        return table_from_dicts([], run_id)
    number_fields = [k for k in FLOAT_FIELDS if k in wanted or k in ALWAYS]
    label_fields = [k for k in LABEL_FIELDS if k in wanted or k in ALWAYS]
    itl = bool({"itl_gaps", "itl_mean_ms"} & set(wanted))
    out = _Columns({k: np.empty(n) for k in (*number_fields, *(("itl_gaps", "itl_mean_ms") if itl else ()))},
                   {k: np.empty(n, dtype=np.int32) for k in label_fields}, np.empty(n, dtype=bool),
                   _schema(number_fields, label_fields, itl), itl)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        filled = list(pool.map(lambda part: _fill(path, part, out), parts))  # re-raises a part's _Refused
    labels = {k: _merged(out.codes[k], parts, [texts[k] for texts in filled]) for k in label_fields}
    required = [labels[k] for k in REQUIRED_TEXT if k in labels]
    if any((col.codes < 0).any() for col in required) or not set(labels["status"].values) <= {"ok", "error"}:
        raise _Refused  # a record without its cell or status: the careful path names the line
    if np.nanmax(out.floats["schema"], initial=0) > RECORD_SCHEMA_VERSION:
        raise _Refused
    labels["run_id"] = Labels.repeat(run_id, n)
    return RecordTable(out.floats, labels, out.warmup, np.arange(1, n + 1, dtype=np.int64))


def read_table(path: Path, run_id: str, fields: Collection[str] = ALL_FIELDS) -> RecordTable:
    """Every record of one records.jsonl (warm-up included, flagged) as columns tagged with `run_id`.

    Raises `UserInputError` naming the file and line when a line is not a record, as the careful reader does.
    """
    if not path.exists():
        return table_from_dicts([], run_id)
    try:
        return _fast(path, run_id, fields)
    except _Refused:
        pass
    return table_from_dicts(list(RunDirectory(path.parent).iter_records()), run_id)
