"""Records to CSV (for spreadsheets) and Parquet (typed, verbatim) with pyarrow.

Every record of every run is exported (warm-up included, flagged by `warmup`), streamed from records.jsonl
in batches. Columns follow `evals.results.schema.RECORD_FIELDS` in order. Parquet keeps lists and the scores map as
nested types; CSV turns them into JSON text, and prefixes untrusted text cells that start with = + - @ (which
spreadsheets would run as formulas) with an apostrophe. Parquet is the faithful export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.results.schema import RECORD_FIELDS
from evals.untrusted import CSV_UNSAFE_RE2

FORMATS = ("csv", "parquet")
BATCH = 4_000
# text that comes from suites, prompts, the service or the model: never trusted by a spreadsheet
UNTRUSTED_TEXT = ("run_id", "request_id", "sample_id", "suite", "suite_version", "cluster", "region", "api", "tier",
                  "model_id", "error_code", "error_class", "error_message", "stop_reason", "prompt", "response_text",
                  "expected", "score_error", "aws_request_id")
FORMULA_PATTERN = r"^[=+\-@\t\r]"


def _types() -> dict[str, Any]:
    import pyarrow as pa

    ints = ("schema", "session", "index", "repeat", "attempts", "throttles", "input_tokens", "output_tokens",
            "image_count", "image_bytes", "image_pixels", "prompt_chars")
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


def _typed(records: Sequence[Mapping[str, Any]]) -> Any:
    """The Parquet table: every schema field with its pyarrow type, values verbatim."""
    import pyarrow as pa

    types = _types()
    arrays = []
    for name in RECORD_FIELDS:
        typ = types[name]
        values = [r.get(name) for r in records]
        if pa.types.is_map(typ):
            values = [list(v.items()) if v else None for v in values]
        elif pa.types.is_string(typ):
            values = [_as_text(v) for v in values]
        arrays.append(pa.array(values, type=typ))
    return pa.Table.from_arrays(arrays, names=list(RECORD_FIELDS))


def _for_csv(table: Any, records: Sequence[Mapping[str, Any]]) -> Any:
    """The CSV table from the typed one: nested values as JSON text, formula-like untrusted text defused."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if pa.types.is_list(col.type) or pa.types.is_map(col.type):
            text = [_as_text(v) if v not in (None, [], {}) else None for v in (r.get(name) for r in records)]
            table = table.set_column(i, name, pa.array(text, type=pa.string()))
        elif name in UNTRUSTED_TEXT:
            risky = pc.fill_null(pc.match_substring_regex(col, FORMULA_PATTERN), False)
            table = table.set_column(i, name, pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col))
    for i, name in enumerate(table.column_names):  # no NUL, escape or bidi override reaches a spreadsheet
        if pa.types.is_string(table.column(i).type):
            table = table.set_column(i, name, pc.replace_substring_regex(table.column(i), CSV_UNSAFE_RE2, "\ufffd"))
    return table


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
            typed = _typed(chunk)
            if "parquet" in paths:
                writers.setdefault("parquet", pq.ParquetWriter(paths["parquet"], typed.schema,
                                                               compression="zstd")).write_table(typed)
            if "csv" in paths:
                table = _for_csv(typed, chunk)
                writers.setdefault("csv", pacsv.CSVWriter(paths["csv"], table.schema)).write_table(table)
        empty = _typed([])
        if "parquet" in paths and "parquet" not in writers:  # no records: an empty typed file, a CSV header
            writers["parquet"] = pq.ParquetWriter(paths["parquet"], empty.schema)
        if "csv" in paths and "csv" not in writers:
            writers["csv"] = pacsv.CSVWriter(paths["csv"], _for_csv(empty, []).schema)
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
