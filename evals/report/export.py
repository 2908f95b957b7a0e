"""Records to CSV (for spreadsheets) and Parquet (typed, verbatim) with pyarrow.

Every record of every run is exported (warm-up included, flagged by `warmup`), streamed from records.jsonl in
batches. Columns follow `evals.schema.RECORD_FIELDS` in order. Parquet keeps lists and the scores map as nested types;
CSV turns them into JSON text, and prefixes untrusted text cells that start with = + - @ (which spreadsheets
would run as formulas) with an apostrophe. Parquet is the faithful export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.schema import RECORD_FIELDS

FORMATS = ("csv", "parquet")
BATCH = 10_000
UNTRUSTED_TEXT = ("sample_id", "suite", "error_message", "response_text", "expected", "cluster")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _types() -> dict[str, Any]:
    import pyarrow as pa

    ints = ("schema", "index", "repeat", "attempts", "throttles", "input_tokens", "output_tokens", "image_count",
            "image_bytes", "image_pixels", "prompt_chars")
    floats = ("load_level", "backoff_ms", "t_intended_ms", "t_sent_ms", "send_lag_ms", "t_first_token_ms",
              "t_done_ms", "latency_ms", "last_attempt_ms", "ttft_ms", "tpot_ms", "server_latency_ms",
              "client_overhead_ms", "score", "cost_usd")
    types: dict[str, Any] = {k: pa.string() for k in RECORD_FIELDS}
    types.update({k: pa.int64() for k in ints})
    types.update({k: pa.float64() for k in floats})
    types.update({
        "warmup": pa.bool_(),
        "itl_ms": pa.list_(pa.float64()),
        "delta_chars": pa.list_(pa.int64()),
        "image_formats": pa.list_(pa.string()),
        "scores": pa.map_(pa.string(), pa.float64()),
    })
    return types


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _table(records: Sequence[Mapping[str, Any]], for_csv: bool) -> Any:
    import pyarrow as pa

    types = _types()
    arrays, names = [], []
    for name in RECORD_FIELDS:
        values = [r.get(name) for r in records]
        typ = types[name]
        if for_csv and (pa.types.is_list(typ) or pa.types.is_map(typ)):
            typ, values = pa.string(), [_as_text(v) if v not in (None, [], {}) else None for v in values]
        elif pa.types.is_map(typ):
            values = [list(v.items()) if v else None for v in values]
        elif pa.types.is_string(typ):
            values = [_as_text(v) for v in values]
            if for_csv and name in UNTRUSTED_TEXT:
                values = [("'" + v) if v and v.startswith(FORMULA_START) else v for v in values]
        arrays.append(pa.array(values, type=typ))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def pyarrow_missing() -> str | None:
    """Why exports cannot be written, or None when pyarrow is importable."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "pyarrow is not installed: records were not exported (pip install pyarrow)"
    return None


def write_exports(records: Iterable[Mapping[str, Any]], directory: Path, formats: Sequence[str],
                  batch: int = BATCH) -> dict[str, Path]:
    """Stream records into records.<fmt> for each requested format, `batch` records at a time.

    Returns {format: path}. Memory stays bounded by the batch, whatever the number of records.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
    paths = {fmt: directory / f"records.{fmt}" for fmt in formats}
    writers: dict[str, Any] = {}
    try:
        for chunk in _batches(records, batch):
            if "csv" in paths:
                table = _table(chunk, for_csv=True)
                writers.setdefault("csv", pacsv.CSVWriter(paths["csv"], table.schema)).write_table(table)
            if "parquet" in paths:
                table = _table(chunk, for_csv=False)
                writers.setdefault("parquet", pq.ParquetWriter(paths["parquet"], table.schema,
                                                               compression="zstd")).write_table(table)
        for fmt in paths:  # no records: still write the header / an empty typed file
            if fmt not in writers:
                table = _table([], for_csv=fmt == "csv")
                writers[fmt] = (pacsv.CSVWriter(paths[fmt], table.schema) if fmt == "csv"
                                else pq.ParquetWriter(paths[fmt], table.schema))
    finally:
        for writer in writers.values():
            writer.close()
    return paths


def _batches(records: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
