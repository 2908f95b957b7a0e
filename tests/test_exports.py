"""Records exports: the C++ path (evals/render/report/export_fast.py) writes exactly what the json.loads path writes,
and every file it cannot prove goes through the json.loads path, with the same output or the same error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from report_helpers import record, write_run

from evals.errors import UserInputError
from evals.render.report import export, export_fast, render_run
from evals.render.report.source import iter_full, run_id_of

UNTRUSTED = ["=HYPERLINK(\"http://x\")", "+SUM(A1)", "-2+3", "@cmd", "nul\x00here", "bidi \u202e txet",
             "tab\tand\nnewline \"quoted\" back\\slash", "\x1b[31mred", "café ✓ 日本", "\ufeffbom", "del\x7f c1\x85",
             'text with ,"expected":1,"score": inside']


def _every_kind() -> list[dict[str, Any]]:
    """Records holding every field kind the exports treat apart: streaming lists (floats Arrow prints in exponent
    form, integral floats), images, score maps of several shapes, expected values of every JSON type, errors,
    warm-up, and untrusted text that spreadsheets or terminals would act on."""
    expected: list[Any] = ["yes", 42, 2.5, None, "日本 \u202e", {"café": [1, {"x": None}]},
                           [{"type": "max_words", "score": 3, "expected": [1, 2.0]}],
                           {"b": 1, "a": "x", "scores": {"k": 1}}, True, "", "=1+1", 1e-07]
    scores: list[dict[str, Any]] = [{"exact": 1.0}, {"f1": 0.5, "exact": 0.0}, {}, {"b": 2, "a": 1e-05},
                                    {"we\"ird": 0.25, "score": 1.0, "expected": 0.0}, {"café ✓": 1.0}]
    recs = []
    for i in range(40):
        text = UNTRUSTED[i % len(UNTRUSTED)]
        streamed = i % 3 == 0
        error = i % 7 == 3
        recs.append(record(
            request_id=f"r{i}", index=i, sample_id=text if i % 5 == 0 else f"s{i}", warmup=i < 2,
            api="converse_stream" if streamed else "converse", prompt=text, response_text=None if error else text,
            itl_ms=[1.5, 2.0, 1e-05, 123456789012.5, 3.25e17, 0.1 + 0.2] if streamed else None,
            delta_chars=[1, 20, 300] if streamed else None,
            image_formats=["png", "jpeg"] if i % 4 == 0 else [], image_count=2 if i % 4 == 0 else 0,
            expected=expected[i % len(expected)], scores=scores[i % len(scores)],
            status="error" if error else "ok", error_code=text if error else None,
            error_message=text if error else None, score_error=text if i % 6 == 1 else None,
            latency_ms=None if error else 100.0 + i * 0.125, load_level=float(i % 2) if i % 8 else None,
            cost_usd=1e-06 * i, stop_reason=text, model_id=text if i % 9 == 0 else "m"))
    return recs


def _export(tmp_path: Path, name: str, runs: list[Path], fast: bool, batch: int = 4_000) -> tuple[bytes, Any]:
    out = tmp_path / name
    out.mkdir()
    paths = {"csv": out / "records.csv", "parquet": out / "records.parquet"}
    export._write(paths, export._fast_batches(runs) if fast else export._careful_batches(iter_full(runs), batch))
    return paths["csv"].read_bytes(), pq.read_table(paths["parquet"])


def test_fast_exports_equal_careful_exports_for_every_field_kind(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [write_run(tmp_path, "run-a", _every_kind()), write_run(tmp_path, "run-b", _every_kind()[:7])]
    monkeypatch.setattr(export_fast, "CHUNK", 3_000)  # several stretches per file, lines longer than the tail
    monkeypatch.setattr(export_fast, "TAIL", 200)
    fast_csv, fast_parquet = _export(tmp_path, "fast", runs, fast=True)
    careful_csv, careful_parquet = _export(tmp_path, "careful", runs, fast=False, batch=6)
    assert fast_csv == careful_csv
    assert fast_parquet.schema.equals(careful_parquet.schema, check_metadata=True)
    assert fast_parquet.equals(careful_parquet)
    rows = fast_parquet.to_pylist()
    assert len(rows) == 47 and [r["run_id"] for r in rows[-7:]] == ["run-b"] * 7
    assert rows[0]["expected"] == "yes" and rows[1]["expected"] == "42" and rows[3]["expected"] is None
    assert json.loads(rows[6]["expected"]) == [{"expected": [1, 2.0], "score": 3, "type": "max_words"}]
    assert dict(rows[3]["scores"]) == {"b": 2.0, "a": 1e-05} and rows[2]["scores"] is None
    text = fast_csv.decode()
    assert '"[1.5, 2.0, 1e-05, 123456789012.5, 3.25e+17, 0.30000000000000004]"' in text
    assert '"{""a"": 1e-05, ""b"": 2}"' in text  # sorted keys, the integer kept as written
    assert "'=HYPERLINK" in text and "\x00" not in text and "\u202e" not in text and "\x1b" not in text


def _fast(run: Path) -> list[Any]:
    reader = export_fast.Reader(run_id_of(run), export._types())
    return [reader.batch(chunk) for chunk in reader.stretches(run / "records.jsonl")]


def test_fast_path_accepts_what_the_run_writes(tmp_path: Path) -> None:
    run = write_run(tmp_path, "run-a", _every_kind())
    assert sum(typed.num_rows for typed, _, _ in _fast(run)) == 40


def _appended_line_exports_alike(tmp_path: Path, recs: list[dict[str, Any]], line: str) -> tuple[bytes, Any]:
    """A run of `recs` with `line` appended as written: the fast path takes it and exports it exactly as the
    careful path does. Returns the fast path's (CSV bytes, Parquet table)."""
    run = write_run(tmp_path, "run-appended", recs)
    with (run / "records.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    assert not _refused(run)
    fast_csv, fast_parquet = _export(tmp_path, "fast", [run], fast=True)
    careful_csv, careful_parquet = _export(tmp_path, "careful", [run], fast=False)
    assert fast_csv == careful_csv and fast_parquet.equals(careful_parquet)
    return fast_csv, fast_parquet


def _refused(run: Path) -> bool:
    try:
        _fast(run)
    except export_fast.Refused:
        return True
    return False


@pytest.mark.parametrize("odd_line", [  # spaces, integers among floats, fields left out; -0; another field order
    '{"request_id": "x1", "status": "ok", "suite": "demo", "region": "us-east-1", "api": "converse", '
    '"tier": "default", "itl_ms": [1, 2], "scores": {"b": 1, "a": 2}, "latency_ms": 5}',
    json.dumps(record(request_id="x2", latency_ms=-0), separators=(",", ":")).replace('"latency_ms":0',
                                                                                      '"latency_ms":-0'),
    json.dumps(dict(reversed(list(record(request_id="x3").items()))), separators=(",", ":")),
])
def test_a_file_the_fast_path_refuses_exports_as_before(tmp_path: Path, odd_line: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_fast, "CHUNK", 2_000)  # the good lines are written before the odd one is met
    run = write_run(tmp_path, "run-odd", _every_kind()[:5])
    with (run / "records.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(odd_line + "\n")
    assert _refused(run)
    paths = export.write_exports([run], run, ("csv", "parquet"), batch=2)  # batches of 2: writers opened once
    careful_csv, careful_parquet = _export(tmp_path, "careful", [run], fast=False)
    assert paths["csv"].read_bytes() == careful_csv
    assert pq.read_table(paths["parquet"]).equals(careful_parquet)
    assert careful_parquet.num_rows == 6


def test_list_text_not_as_the_run_writes_it_is_read_with_json(tmp_path: Path) -> None:
    """A list written otherwise than by json.dumps (1.50, an integer among floats) shows in CSV as json.dumps of
    the parsed line shows it, not as the canonical text of its values."""
    odd = json.dumps(record(request_id="x", api="converse_stream", itl_ms=[1.5, 2.0], delta_chars=[3]),
                     separators=(",", ":")).replace("[1.5,2.0]", "[1.50,2]")
    fast_csv, _ = _appended_line_exports_alike(tmp_path, _every_kind()[:5], odd)
    assert b'"[1.5, 2]"' in fast_csv


def test_a_run_id_with_a_bidi_override_is_neutralised_in_csv(tmp_path: Path) -> None:
    run = write_run(tmp_path, "run-plain", _every_kind()[:1])
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps(dict(info, run_id="=run\u202e")))
    fast_csv, _ = _export(tmp_path, "fast", [run], fast=True)
    assert fast_csv == _export(tmp_path, "careful", [run], fast=False)[0]
    assert "'=run\ufffd".encode() in fast_csv


def test_a_bad_file_fails_as_before(tmp_path: Path) -> None:
    """pyarrow reads a bare Inf that json.loads rejects: the file goes the careful way, which names the line."""
    run = write_run(tmp_path, "run-bad", _every_kind()[:3])
    line = json.dumps(record(request_id="x"), separators=(",", ":"))[:-1] + ',"extra":Inf}'
    with (run / "records.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    assert _refused(run)
    with pytest.raises(UserInputError, match=r"records.jsonl:4: not a JSON record"):
        export.write_exports([run], tmp_path, ("csv",))


def test_report_exports_every_record_of_a_run_larger_than_a_batch(tmp_path: Path) -> None:
    recs = [record(request_id=f"r{i}", index=i, sample_id=f"s{i % 50}", latency_ms=100.0 + i) for i in range(9_000)]
    run = write_run(tmp_path, "run-big", recs)
    render_run([run])
    assert pq.read_table(run / "records.parquet").column("request_id").to_pylist() == [f"r{i}" for i in range(9_000)]
    assert (run / "records.csv").read_bytes().count(b"\n") == 9_001


def _with_field_first(extra: dict[str, Any], **fields: Any) -> str:
    return json.dumps({**extra, **record(**fields)}, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("decoy", [  # fields no record has, holding the keys the fast path cuts at
    _with_field_first({"zz": {"a": 1, "expected": "decoy", "score": 1, "scores": {"x": 1}}}, request_id="d1"),
    _with_field_first({"zz": [{"q": 0, "itl_ms": [9.0], "delta_chars": [1]}]}, request_id="d2", itl_ms=[1, 2.5],
                      delta_chars=[3], api="converse_stream"),
    json.dumps(record(request_id="d3"), separators=(",", ":"))[:-1] + ',"expected":"late"}',
    json.dumps(record(request_id="d4", expected={"x": 1, "score": 2, "scores": {"q": 1}}), separators=(",", ":")),
])
def test_keys_repeated_elsewhere_in_a_line_never_change_the_export(tmp_path: Path, decoy: str) -> None:
    run = write_run(tmp_path, "run-decoy", _every_kind()[:4])
    with (run / "records.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(decoy + "\n")
    paths = export.write_exports([run], run, ("csv", "parquet"))
    careful_csv, careful_parquet = _export(tmp_path, "careful", [run], fast=False)
    assert paths["csv"].read_bytes() == careful_csv
    assert pq.read_table(paths["parquet"]).equals(careful_parquet)


def test_nesting_json_loads_cannot_read_fails_as_before(tmp_path: Path) -> None:
    """pyarrow reads any depth, json.loads runs out of recursion near 1,000 levels: such a line goes the careful way."""
    run = write_run(tmp_path, "run-deep", _every_kind()[:2])
    line = json.dumps(record(request_id="x"), separators=(",", ":"))[:-1] + ',"extra":' + "[" * 2000 + "]" * 2000 + "}"
    with (run / "records.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    assert _refused(run)
    with pytest.raises(RecursionError):
        export.write_exports([run], tmp_path, ("csv",))


@pytest.mark.parametrize("line", [
    json.dumps(record(request_id="c1", expected=1.5, scores={"b": 1, "a": 2.5}), separators=(",", ":"))
    .replace('"expected":1.5', '"expected":1.50').replace('"a":2.5', '"a":2.50'),
    json.dumps(record(request_id="c2", expected="caf\u00e9"), separators=(",", ":")) + "\r",  # \u escape, CRLF
])
def test_values_written_otherwise_read_as_json_loads_reads_them(tmp_path: Path, line: str) -> None:
    _, fast_parquet = _appended_line_exports_alike(tmp_path, _every_kind()[:3], line)
    assert fast_parquet.column("expected").to_pylist()[-1] in ("1.5", "café")
