"""Read a records.jsonl into a `RecordTable`: pyarrow's JSON reader for well-formed files, line by line otherwise.

The fast path parses only the table's fields (`explicit_schema`, other fields ignored) in C++, about twice as
fast as `json.loads` of every line and without a dict per record (`bench/bench_scale.py`). It proves a file
well formed on the way (valid UTF-8, one object per line, the required texts present, numbers where numbers
belong); anything it does not accept is read again by the careful path, `RunDirectory.iter_records`, which
either reads it exactly as before or names the file and line of the problem. A torn last line (a run killed
mid-write) is not a record on either path.
"""

from __future__ import annotations

import codecs
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from evals.results.rundir import RunDirectory
from evals.results.schema import FLOAT_FIELDS, LABEL_FIELDS, RECORD_SCHEMA_VERSION, REQUIRED_TEXT
from evals.results.table import Labels, RecordTable, table_from_dicts

BLOCK = 1 << 20  # bytes per parse block: peak memory grows with it, speed stops improving past ~1 MiB

_SCHEMA = pa.schema(
    [(k, pa.float64()) for k in FLOAT_FIELDS]
    + [(k, pa.string()) for k in dict.fromkeys((*LABEL_FIELDS, *REQUIRED_TEXT))]
    + [("warmup", pa.bool_()), ("itl_ms", pa.list_(pa.float64()))]
)


class _Refused(Exception):
    """The fast path does not accept this file; the careful path reads it."""


class _CheckedPrefix(io.RawIOBase):
    """The file up to its last newline, checked for UTF-8 and counted in lines as pyarrow reads it."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("rb")
        size = self._fh.seek(0, io.SEEK_END)
        self._left = self._whole_lines(size)
        self._fh.seek(0)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.lines = 0

    def _whole_lines(self, size: int) -> int:
        """Bytes up to and including the last newline (a torn tail is left out)."""
        pos = size
        while pos > 0:
            start = max(0, pos - BLOCK)
            self._fh.seek(start)
            cut = self._fh.read(pos - start).rfind(b"\n")
            if cut >= 0:
                return start + cut + 1
            pos = start
        return 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        data = self._fh.read(n)
        try:
            self._utf8.decode(data, final=self._left == len(data))
        except UnicodeDecodeError:
            raise _Refused from None
        self.lines += data.count(b"\n")
        self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def _labels(column: pa.ChunkedArray) -> Labels:
    encoded = column.combine_chunks().dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return Labels(codes, tuple(sys.intern(v) for v in encoded.dictionary.to_pylist()))


def _fast(path: Path, run_id: str) -> RecordTable:
    stream = _CheckedPrefix(path)
    try:
        try:
            # one thread: the threaded reader keeps many blocks in flight (1.3 GiB peak at a million records,
            # 0.5 GiB without) and is no faster on two cores
            raw = pj.read_json(io.BufferedReader(stream, BLOCK),
                               read_options=pj.ReadOptions(block_size=BLOCK, use_threads=False),
                               parse_options=pj.ParseOptions(explicit_schema=_SCHEMA,
                                                             unexpected_field_behavior="ignore"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _Refused from None
        except _Refused:
            raise
    finally:
        stream.close()
    n = raw.num_rows
    if n != stream.lines:  # blank lines, or two objects on one line: the careful path names the line
        raise _Refused
    for key in REQUIRED_TEXT:
        if raw.column(key).null_count:
            raise _Refused
    status = raw.column("status")
    if n and not pc.all(pc.is_in(status, value_set=pa.array(["ok", "error"]))).as_py():
        raise _Refused
    floats = {k: raw.column(k).to_numpy().astype(float, copy=False) for k in FLOAT_FIELDS}
    if np.nanmax(floats["schema"], initial=0) > RECORD_SCHEMA_VERSION:
        raise _Refused
    itl = raw.column("itl_ms").combine_chunks()
    gaps = pc.fill_null(pc.list_value_length(itl), 0).to_numpy(zero_copy_only=False).astype(float)
    flat = pc.list_flatten(itl).to_numpy(zero_copy_only=False).astype(float)
    sums = np.zeros(n)
    if flat.size:
        owner = np.repeat(np.arange(n), gaps.astype(np.int64))
        sums = np.bincount(owner, weights=flat, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        floats["itl_mean_ms"] = np.where(gaps > 0, sums / np.maximum(gaps, 1), np.nan)
    floats["itl_gaps"] = gaps
    labels = {k: _labels(raw.column(k)) for k in LABEL_FIELDS}
    labels["run_id"] = Labels.repeat(run_id, n)
    warmup = pc.fill_null(raw.column("warmup"), False).to_numpy(zero_copy_only=False).astype(bool)
    return RecordTable(floats, labels, warmup, np.arange(1, n + 1, dtype=np.int64))


def read_table(path: Path, run_id: str) -> RecordTable:
    """Every record of one records.jsonl (warm-up included, flagged) as columns tagged with `run_id`.

    Raises `UserInputError` naming the file and line when a line is not a record, as the careful reader does.
    """
    if not path.exists():
        return table_from_dicts([], run_id)
    try:
        return _fast(path, run_id)
    except _Refused:
        pass
    return table_from_dicts(list(RunDirectory(path.parent).iter_records()), run_id)
