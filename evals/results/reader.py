"""Read a records.jsonl into a `RecordTable`: pyarrow's JSON reader for well-formed files, line by line otherwise.

The fast path parses only the table's fields (`explicit_schema`, other fields ignored) in C++, about twice as
fast as `json.loads` of every line and without a dict per record (`bench/bench_scale.py`). It proves a file
well formed on the way (valid UTF-8, one object per line, the required texts present, numbers where numbers
belong); anything it does not accept is read again by the careful path, `RunDirectory.iter_records`, which
either reads it exactly as before or names the file and line of the problem. A torn last line (a run killed
mid-write) is not a record on either path.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Collection, Sequence
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

ALWAYS = ("schema", *REQUIRED_TEXT, "warmup")  # read whatever the caller asks for: they prove a line is a record


def _schema(floats: Sequence[str], labels: Sequence[str], itl: bool) -> pa.Schema:
    return pa.schema([(k, pa.float64()) for k in floats]
                     + [(k, pa.string()) for k in dict.fromkeys((*labels, *REQUIRED_TEXT))]
                     + [("warmup", pa.bool_())] + ([("itl_ms", pa.list_(pa.float64()))] if itl else []))


class _Refused(Exception):
    """The fast path does not accept this file; the careful path reads it."""


def _scan(path: Path) -> tuple[int, int]:
    """(bytes up to and including the last newline, lines in them); refuses text that is not UTF-8.

    Chunks are cut at a newline, which never falls inside a multi-byte character; ASCII chunks need no
    decoding, others are checked by Arrow's UTF-8 validation (C++).
    """
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
    return whole, lines


class _Prefix(io.RawIOBase):
    """The first `size` bytes of a file (a torn last line left out)."""

    def __init__(self, path: Path, size: int) -> None:
        self._fh = path.open("rb")
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
    """A text column filled batch by batch: each batch's dictionary mapped into one growing set of values."""

    def __init__(self, n: int) -> None:
        self.codes = np.empty(n, dtype=np.int32)
        self.index: dict[str, int] = {}

    def fill(self, at: int, column: pa.Array) -> None:
        encoded = column.dictionary_encode()
        remap = np.array([self.index.setdefault(v, len(self.index)) for v in encoded.dictionary.to_pylist()] + [-1],
                         dtype=np.int32)
        idx = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        self.codes[at:at + len(column)] = remap[idx]  # -1 (null) reads remap's trailing -1

    def labels(self) -> Labels:
        return Labels(self.codes, tuple(sys.intern(v) for v in self.index))


def _itl(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(gaps per request, mean gap per request or NaN) of the inter-token gap lists."""
    n = len(column)
    gaps = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False).astype(float)
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(float)
    sums = np.bincount(np.repeat(np.arange(n), gaps.astype(np.int64)), weights=flat, minlength=n) if flat.size \
        else np.zeros(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gaps, np.where(gaps > 0, sums / np.maximum(gaps, 1), np.nan)


def _fast(path: Path, run_id: str, wanted: Collection[str]) -> RecordTable:
    size, n = _scan(path)
    if n == 0:
        return table_from_dicts([], run_id)
    number_fields = [k for k in FLOAT_FIELDS if k in wanted or k in ALWAYS]
    label_fields = [k for k in LABEL_FIELDS if k in wanted or k in ALWAYS]
    itl = bool({"itl_gaps", "itl_mean_ms"} & set(wanted))
    floats = {k: np.empty(n) for k in (*number_fields, *(("itl_gaps", "itl_mean_ms") if itl else ()))}
    texts = {k: _LabelColumn(n) for k in label_fields}
    unlabelled = [k for k in REQUIRED_TEXT if k not in texts]  # checked present, not kept (unique per record)
    warmup = np.empty(n, dtype=bool)
    source = _Prefix(path, size)
    at = 0
    try:
        options = pj.ParseOptions(explicit_schema=_schema(number_fields, label_fields, itl),
                                  unexpected_field_behavior="ignore")
        reader = pj.open_json(source, read_options=pj.ReadOptions(block_size=BLOCK), parse_options=options)
        for batch in reader:
            m = batch.num_rows
            if at + m > n:
                raise _Refused  # two objects on one line: the careful path names it
            for k in number_fields:
                floats[k][at:at + m] = batch.column(k).to_numpy(zero_copy_only=False)
            for k, col in texts.items():
                col.fill(at, batch.column(k))
            if any(batch.column(k).null_count for k in unlabelled):
                raise _Refused
            warmup[at:at + m] = pc.fill_null(batch.column("warmup"), False).to_numpy(zero_copy_only=False)
            if itl:
                floats["itl_gaps"][at:at + m], floats["itl_mean_ms"][at:at + m] = _itl(batch.column("itl_ms"))
            at += m
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Refused from None
    finally:
        source.close()
    if at != n:  # blank lines: the careful path names the line
        raise _Refused
    labels = {k: col.labels() for k, col in texts.items()}
    status = texts["status"].labels()
    required = [texts[k] for k in REQUIRED_TEXT if k in texts]
    if any((col.codes < 0).any() for col in required) or not set(status.values) <= {"ok", "error"}:
        raise _Refused  # a record without its cell or status: the careful path names the line
    if np.nanmax(floats["schema"], initial=0) > RECORD_SCHEMA_VERSION:
        raise _Refused
    labels["run_id"] = Labels.repeat(run_id, n)
    return RecordTable(floats, labels, warmup, np.arange(1, n + 1, dtype=np.int64))


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
