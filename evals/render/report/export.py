"""Records to CSV (for spreadsheets) and Parquet (typed, verbatim) with pyarrow.

Every record of every run is exported (warm-up included, flagged by `warmup`), streamed from records.jsonl
in batches. Columns follow `evals.results.schema.RECORD_FIELDS` in order. Parquet keeps lists and the scores map as
nested types; CSV turns them into JSON text, and prefixes untrusted text cells that start with = + - @ (which
spreadsheets would run as formulas) with an apostrophe. Parquet is the faithful export.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from evals.results.rundir import RECORDS_FILE
from evals.results.schema import RECORD_FIELDS
from evals.untrusted import CSV_UNSAFE_RE2

from .source import iter_full, run_id_of

A = TypeVar("A")
T = TypeVar("T")
PARSE_THREADS = 2  # stretches of records.jsonl parsed at once (besides pyarrow's own threads within one)
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


def _nested_text(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """CSV text of the list and map columns: JSON of the values as parsed, null when empty."""
    import pyarrow as pa

    types = _types()
    nested = [k for k in RECORD_FIELDS if pa.types.is_list(types[k]) or pa.types.is_map(types[k])]
    return {k: pa.array([_as_text(v) if v not in (None, [], {}) else None for v in (r.get(k) for r in records)],
                        type=pa.string()) for k in nested}


def _for_csv(table: Any, nested_text: Mapping[str, Any], unsafe_possible: bool = True) -> Any:
    """The CSV table from the typed one: nested values as their JSON text, formula-like untrusted text defused, and
    (unless the batch's source text cannot hold one) control and bidi characters replaced."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if name in nested_text:
            table = table.set_column(i, name, nested_text[name])
        elif name in UNTRUSTED_TEXT:
            risky = pc.fill_null(pc.match_substring_regex(col, FORMULA_PATTERN), False)
            if pc.any(risky).as_py():  # else the column stays as it is, uncopied
                table = table.set_column(i, name, pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col))
    for i, name in enumerate(table.column_names if unsafe_possible else ()):  # no NUL, escape or bidi override
        col = table.column(i)
        if pa.types.is_string(col.type) and pc.any(pc.match_substring_regex(col, CSV_UNSAFE_RE2)).as_py():
            table = table.set_column(i, name, pc.replace_substring_regex(col, CSV_UNSAFE_RE2, "\ufffd"))
    return table


def pyarrow_missing() -> str | None:
    """Why exports cannot be written, or None when pyarrow is importable."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "pyarrow is not installed: records were not exported (pip install pyarrow)"
    return None


Batch = tuple[Any, Mapping[str, Any], bool]  # typed table, CSV text of its nested columns, may need defusing


def write_exports(runs: Sequence[Path], directory: Path, formats: Sequence[str], batch: int = BATCH) -> dict[str, Path]:
    """Every record of these run directories into records.<fmt> for each requested format; returns {format: path}.

    Runs whose records.jsonl are all in writer form are parsed in C++ (`export_fast`); otherwise every record goes
    through `json.loads`, `batch` records at a time, exactly as before. Memory stays bounded either way.
    """
    from .export_fast import Refused  # pyarrow's JSON reader: imported when exports are written

    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
    paths = {fmt: directory / f"records.{fmt}" for fmt in formats}
    try:
        _write(paths, _fast_batches(runs))
    except Refused:
        _write(paths, _careful_batches(iter_full(runs), batch))
    return paths


def _fast_batches(runs: Sequence[Path]) -> Iterator[Batch]:
    from .export_fast import Reader

    types = _types()
    for path in runs:
        reader = Reader(run_id_of(path), types)
        yield from _in_order(reader.batch, reader.stretches(path / RECORDS_FILE), PARSE_THREADS)


def _careful_batches(records: Iterable[Mapping[str, Any]], size: int) -> Iterator[Batch]:
    def batch(chunk: list[Mapping[str, Any]]) -> Batch:
        return _typed(chunk), _nested_text(chunk), True

    return _in_order(batch, _batches(records, size), 1)  # json.loads holds the GIL: one thread, one batch ahead


def _write(paths: Mapping[str, Path], batches: Iterable[Batch]) -> None:
    """Stream the batches into each file (an empty typed file and a CSV header when there are none)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    writers: dict[str, Any] = {}
    try:
        for typed, nested_text, unsafe_possible in batches:  # each writer opened once (opening truncates)
            if "parquet" in paths:
                if "parquet" not in writers:
                    writers["parquet"] = pq.ParquetWriter(paths["parquet"], typed.schema, compression="zstd")
                writers["parquet"].write_table(typed)
            if "csv" in paths:
                table = _for_csv(typed, nested_text, unsafe_possible)
                if "csv" not in writers:
                    writers["csv"] = pacsv.CSVWriter(paths["csv"], table.schema)
                writers["csv"].write_table(table)
        empty = _typed([])
        if "parquet" in paths and "parquet" not in writers:
            writers["parquet"] = pq.ParquetWriter(paths["parquet"], empty.schema)
        if "csv" in paths and "csv" not in writers:
            writers["csv"] = pacsv.CSVWriter(paths["csv"], _for_csv(empty, _nested_text([])).schema)
    finally:
        for writer in writers.values():
            writer.close()


def _in_order(func: Callable[[A], T], items: Iterable[A], workers: int) -> Iterator[T]:
    """func of each item, in order, computed on `workers` threads a few items ahead of the caller (who meanwhile
    writes the previous result): the work is C++ with the GIL released, so it spreads over the cores. At most
    workers + 1 results are held at once."""
    pending: deque[Future[T]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for item in items:
            pending.append(pool.submit(func, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _batches(records: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
