"""Records as columns: the fast reader reads what the careful one reads, refuses what it refuses, and tables
group, take and concatenate rows as a list of records would."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_helpers import record

from evals.errors import UserInputError
from evals.results.reader import _fast, _Refused, read_table
from evals.results.rundir import RunDirectory
from evals.results.schema import (
    FLOAT_FIELDS,
    LABEL_FIELDS,
    RECORD_SCHEMA_VERSION,
    RUN_SCHEMA_VERSION,
    Record,
    record_dict,
)
from evals.results.table import ALL_FIELDS, Labels, RecordTable, table_from_dicts


def _varied(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """Records with every kind of value a run writes: errors, streaming gaps, warm-up, nulls, non-ASCII text."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ok = rng.random() > 0.2
        stream = rng.random() < 0.5
        rec = record(request_id=f"r{i}", index=i, sample_id=f"s{i % 7}", cluster=None if i % 3 else f"p{i % 2}",
                     region=rng.choice(["us-east-1", "us-west-2", "eu-west-1"]),
                     api="converse_stream" if stream else "converse", warmup=i < 3, repeat=i // 7,
                     t_sent_ms=float(i * 10), latency_ms=rng.lognormvariate(5, 0.5), throttles=rng.choice([0, 0, 2]),
                     itl_ms=[rng.random() * 20 for _ in range(rng.randint(1, 5))] if stream and ok else None,
                     ttft_ms=rng.random() * 100 if stream and ok else None,
                     response_text="réponse ✓ 答え" if ok else None, score=float(rng.random() < 0.7) if ok else None,
                     status="ok" if ok else "error",
                     error_code=None if ok else rng.choice(["ThrottlingException", "ReadTimeout"]),
                     error_message=None if ok else "Too many requests — slow down")
        out.append(rec)
    return out


def _write(path: Path, records: list[dict[str, Any]], tail: bytes = b"") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records]
    (path / "records.jsonl").write_bytes(b"".join(lines) + tail)
    return path / "records.jsonl"


def _careful(path: Path, run_id: str = "run") -> RecordTable:
    return table_from_dicts(list(RunDirectory(path.parent).iter_records()), run_id)


def _assert_same(a: RecordTable, b: RecordTable) -> None:
    assert len(a) == len(b)
    for k in b.floats:
        assert np.array_equal(a.num(k), b.num(k), equal_nan=True), k
    for k in b.labels:
        assert a.label(k).texts() == b.label(k).texts(), k
    assert np.array_equal(a.warmup, b.warmup) and np.array_equal(a.line, b.line)


def test_fast_reader_reads_what_the_careful_reader_reads(tmp_path: Path) -> None:
    path = _write(tmp_path / "run", _varied(500), tail=b'{"request_id": "torn", "sta')  # killed mid-write
    fast = _fast(path, "run", ALL_FIELDS)  # raises _Refused if the fast path gave up
    _assert_same(fast, _careful(path))
    assert len(fast) == 500 and fast.label("run_id").present() == ["run"]
    gaps = fast.num("itl_gaps")
    assert gaps.max() >= 1 and np.isnan(fast.num("itl_mean_ms")[gaps == 0]).all()


def test_fast_reader_reads_only_the_fields_asked_for(tmp_path: Path) -> None:
    path = _write(tmp_path / "run", _varied(50))
    table = read_table(path, "run", ("latency_ms", "sample_id"))
    assert set(table.floats) == {"latency_ms", "schema"}
    assert set(table.labels) == {"sample_id", "status", "suite", "region", "api", "tier", "run_id"}
    assert np.array_equal(table.num("latency_ms"), _careful(path).num("latency_ms"), equal_nan=True)


# each: (what goes wrong, the bad line as bytes, the message the careful path gives for line 2)
BAD_LINES = [
    ("blank line", b"\n", "not a JSON record"),
    ("two objects on a line", json.dumps(record()).encode() + b" {}\n", "not a JSON record"),
    ("text for a number", json.dumps(record(latency_ms="fast")).encode() + b"\n",
     "latency_ms must be a number or null, got 'fast'"),
    ("boolean for a number", json.dumps(record(throttles=True)).encode() + b"\n",
     "throttles must be a number or null, got True"),
    ("no status", json.dumps({k: v for k, v in record().items() if k != "status"}).encode() + b"\n",
     "record lacks status"),
    ("unknown status", json.dumps(record(status="maybe")).encode() + b"\n", "status must be ok or error"),
    ("number for a cell", json.dumps(record(region=5)).encode() + b"\n", "region must be text, got 5"),
    ("not UTF-8 in an answer", json.dumps(record()).encode().replace(b'"yes"', b'"\xff\xfe"', 1) + b"\n",
     "not UTF-8 text"),
    ("a newer schema", json.dumps(record(schema=RECORD_SCHEMA_VERSION + 1)).encode() + b"\n",
     f"record schema version {RECORD_SCHEMA_VERSION + 1} is newer than this bedrock-evals reads"),
    ("not an object", b"[1, 2]\n", "not a record (a JSON object expected, got list)"),
]


@pytest.mark.parametrize(("case", "line", "message"), BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_a_bad_line_is_named_with_its_file_and_line(tmp_path: Path, case: str, line: bytes, message: str) -> None:
    path = _write(tmp_path / "run", [record()])
    with path.open("ab") as fh:
        fh.write(line + json.dumps(record(request_id="r2")).encode() + b"\n")
    with pytest.raises(_Refused):
        _fast(path, "run", ALL_FIELDS)
    with pytest.raises(UserInputError) as err:
        read_table(path, "run")
    assert str(err.value).startswith(f"{path}:2: ") and message in str(err.value)


def test_records_the_fast_reader_refuses_but_are_valid_are_read_carefully(tmp_path: Path) -> None:
    """`"warmup": 0` and a text `index` are records all the same: the careful path reads them as before."""
    path = _write(tmp_path / "run", [record(warmup=0), record(request_id="r1", index="5", sample_id=7)])
    with pytest.raises(_Refused):
        _fast(path, "run", ALL_FIELDS)
    table = read_table(path, "run")
    _assert_same(table, _careful(path))
    assert table.label("sample_id").texts() == ["s0", "7"] and np.isnan(table.num("index")[1])


def test_an_empty_or_missing_records_file_is_an_empty_table(tmp_path: Path) -> None:
    assert len(read_table(tmp_path / "nothing.jsonl", "run")) == 0
    assert len(read_table(_write(tmp_path / "run", [], tail=b'{"torn'), "run")) == 0


def test_groups_take_and_concat_match_a_list_of_records(tmp_path: Path) -> None:
    records = _varied(300, seed=5)
    table = table_from_dicts(records, "a")
    groups = dict(table.groups(("region", "api")))
    expected: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        expected.setdefault((r["region"], r["api"]), []).append(i)
    assert list(groups) == sorted(expected) and all(groups[k].tolist() == v for k, v in expected.items())
    order = np.argsort(table.num("latency_ms"), kind="stable")[::-1]
    taken = table.take(order).take(np.arange(10))
    assert taken.num("latency_ms").tolist() == sorted((r["latency_ms"] for r in records), reverse=True)[:10]
    assert taken.label("region").texts() == [records[i]["region"] for i in order[:10]]
    both = RecordTable.concat([table_from_dicts(records[:100], "a"), table_from_dicts(records[100:], "b")])
    assert both.label("region").texts() == [r["region"] for r in records]
    assert both.label("run_id").texts() == ["a"] * 100 + ["b"] * 200
    assert both.label("error_code").texts() == [r["error_code"] for r in records]


def test_labels_mark_missing_values_and_values_absent_from_the_column() -> None:
    labels = Labels.from_texts(["x", None, "y", "x"])
    assert labels.eq("x").tolist() == [True, False, False, True] and labels.eq(None).tolist() == [False, True, False,
                                                                                                    False]
    assert not labels.eq("z").any() and labels.present() == ["x", "y"]


def test_the_record_model_is_the_schema_the_writer_writes() -> None:
    rec = Record(**record())
    assert list(record_dict(rec)) == list(Record.__dataclass_fields__)
    assert "latency_ms" in FLOAT_FIELDS and "region" in LABEL_FIELDS and "response_text" not in LABEL_FIELDS
    with pytest.raises(TypeError):
        Record(**record(unknown_field=1))


def test_a_run_file_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA_VERSION + 1, "run_id": "run"}))
    with pytest.raises(UserInputError, match=r"run.json: run file schema version \d+ is newer than this"):
        RunDirectory.open_existing(run).read_run()
    (run / "run.json").write_text(json.dumps({"run_id": "run"}))  # written before run files had a version
    assert RunDirectory.open_existing(run).read_run()["run_id"] == "run"


def test_a_file_parsed_in_stretches_on_several_threads_reads_the_same(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import evals.results.reader as reader

    path = _write(tmp_path / "run", _varied(2000, seed=9), tail=b'{"torn')
    monkeypatch.setattr(reader, "SCAN", 8192)  # many chunks, so the stretches end at chunk ends
    monkeypatch.setattr(reader, "PARALLEL_ABOVE", 0)
    monkeypatch.setattr(reader, "_threads", lambda: 3)
    assert len(reader._scan(path, 3)) == 3
    _assert_same(_fast(path, "run", ALL_FIELDS), _careful(path))
    with path.open("ab") as fh:  # a bad line in the last stretch still sends the file to the careful path
        fh.write(b'\n{"request_id": "x"}\n')
    with pytest.raises(UserInputError, match=r"records.jsonl:2001: "):
        read_table(path, "run")


def test_the_run_file_model_names_every_documented_key_and_checks_its_type(tmp_path: Path) -> None:
    from typing import get_type_hints

    from evals.results.schema import RUN_FIELDS, RunFile

    assert set(get_type_hints(RunFile)) == set(RUN_FIELDS)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"run_id": "run", "suites": {"name": "demo"}}))
    with pytest.raises(UserInputError, match=r"run.json: suites must be a list, got dict$"):
        RunDirectory.open_existing(run).read_run()
