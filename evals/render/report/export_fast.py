"""records.jsonl as typed Arrow batches, parsed in C++, for files in the form the run writes them.

The careful export builds a dict per record with `json.loads` (about 68 s at a million records). This path parses
stretches of the file with pyarrow's JSON reader and an explicit schema instead (`_parse`), after checking the shape
of every line (one object per line), and it proves what it cannot parse before using it:
- `expected` (any JSON value) and `scores` (an object keyed by scorer) have no Arrow type. Each line's end must be in
  writer form (one linear RE2 match on its last bytes), which fixes where their texts start and end; the texts are
  read with `json.loads` once per distinct text, so they become exactly what the careful path makes of them.
- CSV shows a list as `json.dumps` of the parsed line would. On lines wholly in writer form (every field once, in
  schema order, strict JSON tokens) the list's text is cut out and compared with the canonical text of the parsed
  values: where they are equal (what the run writes) that text is used, elsewhere `json.dumps(json.loads(text))`.
- Numbers pyarrow and Python read differently (`-0`, `NaN`, integers past int64 where a float goes, a bare `Inf`),
  nesting deep enough to exhaust Python's recursion, and records the careful reader rejects are refused.
Anything not proven raises `Refused`; the caller then exports the whole set of runs the careful way, so odd but valid
files, and bad ones, come out (or fail) exactly as before (tests/test_exports.py holds both paths to equal bytes).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from evals.results.schema import RECORD_FIELDS, RECORD_SCHEMA_VERSION, REQUIRED_TEXT
from evals.untrusted import for_csv

CHUNK = 8 << 20  # bytes of whole lines parsed at a time: memory stays bounded by a few times this
TAIL = 320  # bytes from the end of a line searched first for `expected` and `scores` (whole line if not found)
FREE_TEXT = "expected"  # any JSON value: its text is cut out of the line
OBJECT_FIELD = "scores"  # an object with run-dependent keys: its text is cut out of the line
LISTS = ("itl_ms", "delta_chars", "image_formats")
_NEXT = dict(itertools.pairwise(RECORD_FIELDS))  # each field and the one written after it

_NUM = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+\-]?[0-9]+)?"
_STR = r'"(?:[^"\\\x00-\x1f]|\\.)*"'
_SCALAR = rf"(?:{_NUM}|{_STR}|true|false|null)"
_LIST = rf"\[(?:{_SCALAR}(?:,{_SCALAR})*)?\]"
_OBJECT = rf"\{{(?:{_STR}:{_SCALAR}(?:,{_STR}:{_SCALAR})*)?\}}"
MAX_OPENINGS = 800  # `{` and `[` on one line from which json.loads might run out of recursion (~990 levels deep)


class Refused(Exception):
    """The fast path cannot prove its output equals the careful path's for this file."""


def _token(name: str, typ: pa.DataType) -> str:
    """The JSON tokens a field may hold in writer form (pyarrow checks their types)."""
    if name == FREE_TEXT:
        return ".*"
    if pa.types.is_map(typ):
        return f"null|{_OBJECT}"
    if pa.types.is_list(typ):
        return f"null|{_LIST}"
    if pa.types.is_boolean(typ):
        return "true|false|null"
    if pa.types.is_string(typ):
        return f"{_STR}|null"
    return f"{_NUM}|null"


@lru_cache(maxsize=4)
def _forms(types: tuple[tuple[str, pa.DataType], ...]) -> tuple[str, str]:
    """The writer form (every field once, in schema order, compact, strict JSON tokens) of (a line's start up to the
    key after its last list; a line's end from `,"expected":` on)."""
    names = [name for name, _ in types]
    members = [f'"{name}":(?:{_token(name, typ)})' for name, typ in types]
    last_list, first = max(names.index(k) for k in LISTS), names.index(FREE_TEXT)
    return (r"^\{" + ",".join(members[:last_list + 1]) + f',"{names[last_list + 1]}":',
            "," + ",".join(members[first:]) + r"\}\r?\n$")


def _schema(types: Mapping[str, pa.DataType]) -> pa.Schema:
    """What pyarrow parses: every field but the run id (replaced), `expected` (cut out) and `scores` (presence only)."""
    return pa.schema([(k, t) for k, t in types.items() if k not in ("run_id", FREE_TEXT, OBJECT_FIELD)])


def _chunks(path: Path) -> Iterator[bytes]:
    """Whole lines, about CHUNK bytes at a time; a torn last line (a run killed mid-write) is not a record."""
    carry = b""
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            cut = block.rfind(b"\n") + 1
            if cut:
                yield b"".join((carry, memoryview(block)[:cut]))
                carry = block[cut:]
            else:
                carry += block


def _lines(chunk: bytes) -> pa.StringArray:
    """One string per line (newline kept), over the chunk's own buffer. Refuses text that is not UTF-8, and lines
    that do not start with `{` and end with `}`: then no object spans two lines (a `}` and a `{` with only a line
    break between them never sit inside one value), so as many rows as lines means one object per line."""
    if not chunk.isascii():
        try:
            pa.array([chunk], pa.binary()).cast(pa.string())
        except pa.ArrowInvalid:
            raise Refused from None
    data = np.frombuffer(chunk, np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    last = ends - 1 - (data[np.maximum(ends - 1, 0)] == 13)  # a \r before the newline is whitespace to json.loads
    if np.any(ends <= starts) or np.any(data[starts] != ord("{")) or np.any(data[np.maximum(last, 0)] != ord("}")):
        raise Refused
    if np.any(ends - starts >= 2 * MAX_OPENINGS):  # shorter lines cannot hold that many openings and their closings
        openings = np.flatnonzero((data | 0x20) == ord("{"))  # `{` or `[` (0x7b, 0x5b)
        if np.bincount(np.searchsorted(ends, openings), minlength=len(ends)).max(initial=0) >= MAX_OPENINGS:
            raise Refused
    offsets = np.concatenate([[0], ends + 1]).astype(np.int32)
    return pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(chunk))


def _bare_inf(chunk: bytes) -> bool:
    """Whether the stretch may hold `Inf` as a number, which pyarrow reads and json.loads rejects (an unknown field
    would otherwise pass unnoticed); `Infinity` and `NaN` both read alike, and are refused where a float goes."""
    if b"I" not in chunk or b"Inf" not in chunk:  # the first is a memchr
        return False
    data = np.frombuffer(chunk, np.uint8)
    for at in np.flatnonzero(data[:-2] == ord("I")).tolist():
        if chunk[at:at + 3] == b"Inf" and chunk[max(at - 8, 0):at].rstrip(b" \t-").endswith((b":", b",", b"[")):
            return True
    return False


def _parse(chunk: bytes, schema: pa.Schema, rows: int) -> pa.Table:
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pj.read_json(pa.py_buffer(chunk), read_options=pj.ReadOptions(block_size=1 << 20),
                             parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise Refused from None
    if table.num_rows != rows:
        raise Refused
    return table


def _check(table: pa.Table, floats: list[str]) -> None:
    """Refuse what the careful path would reject or read differently: a record without its texts, an unknown status,
    a newer schema, `-0` (Python reads 0) or an integer past int64 (Python cannot convert it) where a float goes."""
    if any(table.column(k).null_count for k in REQUIRED_TEXT):
        raise Refused
    if not pc.all(pc.is_in(table.column("status"), pa.array(["ok", "error"]))).as_py():
        raise Refused
    if (pc.max(table.column("schema")).as_py() or 0) > RECORD_SCHEMA_VERSION:
        raise Refused
    for col in [*(table.column(k).combine_chunks() for k in floats), pc.list_flatten(table.column("itl_ms"))]:
        values = col.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):  # nulls read as NaN here; a NaN in the file makes the float check fail
            bad = np.any((values == 0) & np.signbit(values)) or np.any(np.abs(values) >= 2.0 ** 63)
        if bad or np.isnan(values).sum() != col.null_count:
            raise Refused


def _json_text(value: Any) -> str | None:
    """The careful path's CSV text of a nested value."""
    return None if value in (None, [], {}) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _expected(raw: pa.Array) -> pa.Array:
    """`expected` as the careful path exports it: text as is, anything else as JSON text (one json.loads per
    distinct value)."""
    encoded = raw.dictionary_encode()
    texts = [value if value is None or isinstance(value, str) else
             json.dumps(value, ensure_ascii=False, sort_keys=True) for value in _loaded(encoded.dictionary)]
    return pa.array(texts, pa.string()).take(encoded.indices)


def _loaded(texts: pa.Array) -> list[Any]:
    """json.loads of each text; a text json.loads refuses (or nests too deep for it) is the careful path's."""
    try:
        return [json.loads(text) for text in texts.to_pylist()]
    except (ValueError, RecursionError):
        raise Refused from None


def _scores(raw: pa.Array, typ: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """(the map column, its CSV text) from each row's object text, one json.loads per distinct object."""
    encoded = raw.dictionary_encode()
    values = _loaded(encoded.dictionary)
    entries = [list(value.items()) if value else None for value in values]
    texts = [_json_text(value) for value in values]
    try:
        maps = pa.array(entries, type=typ)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        raise Refused from None
    return maps.take(encoded.indices), pa.array(texts, pa.string()).take(encoded.indices)


def _element_text(values: pa.Array) -> pa.Array:
    """Each list element as `json.dumps` writes it, or null where that cannot be had in C++ (the row then goes through
    Python): shortest round-trip floats between 1e-4 and 1e16 that Arrow prints without an exponent (Arrow's and
    Python's digits agree there, integral ones gaining ".0"), integers, and strings without characters JSON escapes."""
    if pa.types.is_floating(values.type):
        text = pc.cast(values, pa.string())
        magnitude = pc.abs(values)
        plain = pc.and_(pc.invert(pc.match_substring(text, "e")),
                        pc.or_(pc.equal(values, 0), pc.and_(pc.greater_equal(magnitude, 1e-4),
                                                             pc.less(magnitude, 1e16))))
        text = pc.if_else(pc.equal(pc.floor(values), values), pc.binary_join_element_wise(text, ".0", ""), text)
        return pc.if_else(plain, text, pa.scalar(None, pa.string()))
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.string())
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    return pc.if_else(pc.match_substring_regex(values, r'[\x00-\x1f"\\]'), pa.scalar(None, pa.string()), quoted)


def _lists_text(lines: pa.StringArray, columns: Mapping[str, pa.Array], line_form: str) -> dict[str, pa.Array]:
    """CSV text of the list columns: null for null or empty lists, else the list as `json.dumps` of the line gives it.

    The lines holding a non-empty list must start in writer form (`line_form`): then no value before the lists holds
    `,"key":`, so a list's text runs from the first `,"list":` to the next field's key."""
    lengths = {k: pc.fill_null(pc.list_value_length(columns[k]), 0).to_numpy(zero_copy_only=False) for k in LISTS}
    rows = np.flatnonzero(np.logical_or.reduce([n > 0 for n in lengths.values()]))
    if not rows.size:
        return {k: pa.nulls(len(lines), pa.string()) for k in LISTS}
    subset = lines.take(pa.array(rows))
    if not pc.all(pc.match_substring_regex(subset, line_form)).as_py():
        raise Refused
    texts, rest, at = {}, subset.cast(pa.binary()), ""
    for name in sorted(LISTS, key=list(RECORD_FIELDS).index):  # each cut leaves the rest of the line for the next
        if at != name:
            rest = _between(rest, name, False)[1]
        raw, rest = _between(rest, _NEXT[name], False)
        at = _NEXT[name]  # `rest` now starts at this field's value
        texts[name] = _list_text(columns[name].take(pa.array(rows)), raw.cast(pa.string()), len(lines), rows)
    return texts


def _list_text(lists: pa.Array, raw: pa.Array, n: int, rows: np.ndarray) -> pa.Array:
    """CSV text of one list column from the lists of `rows` and their text in the file (see `_lists_text`)."""
    elements = pa.ListArray.from_arrays(lists.offsets, _element_text(lists.values))
    canonical = pc.binary_join_element_wise("[", pc.binary_join(elements, ","), "]", "")
    shown = pc.fill_null(pc.greater(pc.list_value_length(lists), 0), False)  # empty or null lists have no text
    texts = pc.if_else(shown, pc.binary_join_element_wise("[", pc.binary_join(elements, ", "), "]", ""),
                       pa.scalar(None, pa.string()))
    other = pc.and_(shown, pc.invert(pc.fill_null(pc.equal(raw, canonical), False)))
    if pc.any(other).as_py():  # not as the run writes it: as json.dumps of the parsed text
        texts = pc.replace_with_mask(texts, other, pa.array(
            [_json_text(json.loads(text)) for text in raw.filter(other).to_pylist()], pa.string()))
    index = np.full(n, -1, dtype=np.int64)
    index[rows] = np.arange(rows.size)
    return texts.take(pa.array(index, mask=index < 0))


def _between(text: pa.Array, key: str, reverse: bool) -> tuple[pa.Array, pa.Array]:
    """(text before, text after) the first (or with `reverse` the last) `,"key":` of each string."""
    parts = pc.split_pattern(text, f',"{key}":', max_splits=1, reverse=reverse)
    return pc.list_element(parts, 0), pc.list_element(parts, 1)


def _whole_or_tail(lines: pa.StringArray, pattern: str) -> pa.Array:
    """Each line's last TAIL bytes where they match `pattern`, else the whole line; refuses a line neither matches."""
    whole = lines.cast(pa.binary())
    tails = pc.binary_slice(whole, -TAIL)
    matched = pc.match_substring_regex(tails, pattern)
    if not pc.all(matched).as_py():
        missing = pc.invert(matched)
        if not pc.all(pc.match_substring_regex(whole.filter(missing), pattern)).as_py():
            raise Refused
        order = np.concatenate([np.flatnonzero(matched.to_numpy(zero_copy_only=False)),
                                np.flatnonzero(missing.to_numpy(zero_copy_only=False))])
        tails = pa.concat_arrays([tails.filter(matched), whole.filter(missing)]).take(pa.array(np.argsort(order)))
    return tails


def _cut_out(lines: pa.StringArray, tail_form: str) -> tuple[pa.Array, pa.Array]:
    """The texts of `expected` and `scores` of each line, whose end must be in writer form (`tail_form`).

    That form ends the line's only object, so `score`, `scores` and the fields after them are its own members; they
    hold plain tokens, so the last `,"score_error":` ends `scores`, the last `,"scores":` starts it and the last
    `,"score":` before that ends `expected`. `expected` starts at the first `,"expected":`. A key of the same name
    elsewhere (nested, or in a field no record has) can only make a cut that is not one JSON value, which
    `json.loads` then refuses."""
    source = _whole_or_tail(lines, tail_form)
    after = _between(source, FREE_TEXT, reverse=False)[1]
    head, rest = _between(after, OBJECT_FIELD, reverse=True)
    expected = _between(head, _NEXT[FREE_TEXT], reverse=True)[0]
    scores = _between(rest, _NEXT[OBJECT_FIELD], reverse=True)[0]
    if expected.null_count or scores.null_count:
        raise Refused
    return expected.cast(pa.string()), scores.cast(pa.string())


def may_need_defusing(chunk: bytes, run_id: str) -> bool:
    """Whether any text of this stretch, or the run id, could hold a character the CSV export neutralises (else that
    pass is skipped): in JSON text only through a byte past ASCII, DEL, or a \\u, \\b, \\f or \\r escape."""
    if for_csv(run_id) != run_id or not chunk.isascii() or b"\x7f" in chunk:
        return True
    data = np.frombuffer(chunk, np.uint8)
    escapes = np.flatnonzero(data[:-1] == ord("\\")) + 1
    return bool(np.isin(data[escapes], np.frombuffer(b"ubfr", np.uint8)).any())


def _layout_ok(types: Mapping[str, pa.DataType]) -> bool:
    """The cuts of `_cut_out` need `expected`, one scalar field, `scores`, then only scalar fields."""
    order = list(RECORD_FIELDS)
    first = order.index(FREE_TEXT)
    scalars = [k for k in order[first + 1:] if k != OBJECT_FIELD]
    return order[first + 2] == OBJECT_FIELD and not any(
        pa.types.is_nested(types[k]) for k in scalars) and FREE_TEXT not in LISTS


class Reader:
    """Turns stretches of one run's records.jsonl (`stretches`) into export batches (`batch`); `batch` may run on
    several threads at once (it keeps no state, and spends its time in C++ with the GIL released)."""

    def __init__(self, run_id: str, types: Mapping[str, pa.DataType]) -> None:
        if not _layout_ok(types):
            raise Refused
        self.run_id = run_id
        self.types = types
        self.line_form, self.tail_form = _forms(tuple((k, types[k]) for k in RECORD_FIELDS))
        self.schema = _schema(types)
        self.floats = [k for k, t in types.items() if pa.types.is_floating(t) and k in self.schema.names]

    @staticmethod
    def stretches(path: Path) -> Iterator[bytes]:
        return _chunks(path) if path.exists() else iter(())

    def batch(self, chunk: bytes) -> tuple[pa.Table, dict[str, pa.Array], bool]:
        """(typed table in schema order, CSV text of the nested columns, may need defusing) of one stretch."""
        lines = _lines(chunk)
        if _bare_inf(chunk):
            raise Refused
        table = _parse(chunk, self.schema, len(lines))
        _check(table, self.floats)
        expected, scores = _cut_out(lines, self.tail_form)
        maps, scores_text = _scores(scores, self.types[OBJECT_FIELD])
        columns = {k: table.column(k).combine_chunks() for k in self.schema.names}
        columns.update({"run_id": pa.array([self.run_id] * len(lines), pa.string()),
                        FREE_TEXT: _expected(expected), OBJECT_FIELD: maps})
        typed = pa.Table.from_arrays([columns[k] for k in RECORD_FIELDS], names=list(RECORD_FIELDS))
        texts = _lists_text(lines, columns, self.line_form)
        texts[OBJECT_FIELD] = scores_text
        return typed, texts, may_need_defusing(chunk, self.run_id)
