"""Records to CSV (for spreadsheets) and Parquet (typed, verbatim) with pyarrow.

Columns follow `evals.schema.RECORD_FIELDS` in order. Parquet keeps lists and the scores map as nested types;
CSV turns them into JSON text, and prefixes untrusted text cells that start with = + - @ (which spreadsheets
would run as formulas) with an apostrophe. Parquet is the faithful export.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.schema import RECORD_FIELDS

FORMATS = ("csv", "parquet")
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


def write_exports(records: Sequence[Mapping[str, Any]], directory: Path, formats: Sequence[str]) -> dict[str, Path]:
    """Write records.<fmt> into `directory` for each requested format; returns {format: path}."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    written: dict[str, Path] = {}
    for fmt in formats:
        path = directory / f"records.{fmt}"
        if fmt == "csv":
            pacsv.write_csv(_table(records, for_csv=True), path)
        elif fmt == "parquet":
            pq.write_table(_table(records, for_csv=False), path, compression="zstd")
        else:
            raise ValueError(f"unknown export format {fmt!r}")
        written[fmt] = path
    return written
