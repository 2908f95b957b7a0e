"""The report's column paths: one-arm summaries of the registry, cells taken on demand, grouping, the viewer's
picks and the error examples, each checked against the records they are computed from."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_helpers import record, write_run
from scipy import stats

from evals import cli
from evals.errors import UserInputError
from evals.render.report import render_run
from evals.render.report.tables import CellTables, narrow
from evals.render.report.viewer import SLOWEST, pick_rows
from evals.results import summaries
from evals.results.rundata import group_by_cell
from evals.results.table import table_from_dicts
from evals.stats.dependent import quantile_interval


def _recs(n: int, seed: int = 3, **fields: Any) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = dict(request_id=f"r{i}", index=i, sample_id=f"s{i % 40}", region=("us-east-1", "us-west-2")[i % 2],
                 api=("converse", "invoke")[(i // 2) % 2], t_sent_ms=float(rng.uniform(0, 10_000)),
                 latency_ms=float(rng.lognormal(5, 0.5)), score=float(rng.random() < 0.7))
        f.update(fields)
        out.append(record(**f))
    return out


def test_quantiles_are_over_values_in_send_order_whatever_the_file_order() -> None:
    recs = _recs(400)
    table = table_from_dicts(recs)
    ok_in_send_order = sorted((r for r in recs if r["status"] == "ok"), key=lambda r: r["t_sent_ms"])
    values = np.array([r["latency_ms"] for r in ok_in_send_order])
    got = summaries.distributions(table, ("latency_ms",))["latency_ms"]
    assert got is not None
    for q, label in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
        want = quantile_interval(values, q)
        assert (got[label].estimate, got[label].low, got[label].high) == pytest.approx((want.estimate, want.low,
                                                                                        want.high), nan_ok=True)
    shuffled = table.take(np.random.default_rng(0).permutation(len(table)))
    again = summaries.distributions(shuffled, ("latency_ms",))["latency_ms"]
    assert again is not None and again["p90"].low == got["p90"].low and again["p90"].high == got["p90"].high


def test_score_summary_picks_its_interval_by_what_the_scores_are() -> None:
    independent = table_from_dicts([record(request_id=f"r{i}", sample_id=f"s{i}", score=float(i % 3 > 0))
                                    for i in range(30)])
    s = summaries.score(independent)
    ci = stats.binomtest(20, 30).proportion_ci(method="wilson")
    assert s is not None and s.kind == "accuracy" and s.interval.method == "wilson"
    assert (s.interval.low, s.interval.high) == pytest.approx((ci.low, ci.high)) and s.correct == 20
    # repeats of an item, and a shared passage (cluster), are one cluster each: clustered interval
    repeated = table_from_dicts([record(request_id=f"r{i}", sample_id=f"s{i % 10}", score=float(i % 3 > 0),
                                        cluster=("p1" if i % 10 < 4 else None)) for i in range(30)])
    s = summaries.score(repeated)
    assert s is not None and s.interval.method == "clustered-se" and s.clusters == 7 and s.repeats == 30 / 7
    # a failed request with a stray score is an error, never a wrong answer
    failed = table_from_dicts([record(request_id="a", score=1.0), record(request_id="b", sample_id="s1", score=1.0),
                               record(request_id="c", sample_id="s2", status="error", score=0.0)])
    s = summaries.score(failed)
    assert s is not None and s.interval.n == 2 and s.correct == 2
    graded = table_from_dicts([record(request_id=f"r{i}", sample_id=f"s{i}", score=i / 40) for i in range(40)])
    s = summaries.score(graded)
    assert s is not None and s.kind == "mean score" and s.interval.method.startswith("bootstrap")


def test_groups_match_a_dict_grouping_including_nulls() -> None:
    rng = np.random.default_rng(9)
    recs = [{"suite": "s", "region": rng.choice(["a", "b", None]), "api": rng.choice(["x", "y", "z"]),
             "tier": "t", "status": "ok", "run_id": "r"} for _ in range(3000)]
    table = table_from_dicts(recs)
    want: dict[tuple[Any, ...], list[int]] = {}
    for i, r in enumerate(recs):
        want.setdefault((r["region"], r["api"]), []).append(i)
    got = [(key, rows.tolist()) for key, rows in table.groups(("region", "api"))]
    assert got == sorted(want.items(), key=lambda kv: tuple("" if v is None else v for v in kv[0]))


def test_cells_taken_on_demand_equal_group_by_cell_and_narrowing_keeps_rows() -> None:
    table = table_from_dicts([*_recs(200), record(request_id="w", warmup=True)])
    cells = CellTables.of(table.measured())
    grouped = group_by_cell(table)
    assert list(cells) == list(grouped)
    for key, cell in grouped.items():
        assert np.array_equal(cells[key].line, cell.line)
        assert np.array_equal(cells[key].num("latency_ms"), cell.num("latency_ms"))
    slim = narrow(table, ("latency_ms",), ("status",))
    assert set(slim.floats) == {"latency_ms"} and set(slim.labels) == {"status"} and len(slim) == len(table)
    assert narrow(table, ("score",), ("status",)).num("score") is table.num("score")  # a view, not a copy


def test_viewer_picks_failed_then_wrong_then_other_per_cell_and_the_slowest() -> None:
    recs = []
    for i in range(120):
        kind = i % 4  # 0 failed, 1 wrong, 2 correct, 3 unscored
        recs.append(record(request_id=f"r{i}", index=i, sample_id=f"s{i}", region=("a", "b")[(i // 4) % 2],
                           status="error" if kind == 0 else "ok", score=(0.0, 0.0, 1.0, None)[kind],
                           latency_ms=float(i), error_code="X" if kind == 0 else None))
    table = table_from_dicts(recs)
    rows, slowest = pick_rows(table, per_cell=3, cap=15)
    kinds = ["failed" if recs[r]["status"] != "ok" else "wrong" if recs[r]["score"] == 0.0 else "other"
             for r in rows]
    assert kinds[:6] == ["failed"] * 6 and kinds[6:12] == ["wrong"] * 6 and kinds[12:15] == ["other"] * 3
    assert [recs[r]["region"] for r in rows[:6]] == ["a", "b"] * 3  # cells take turns
    assert rows[:2] == [0, 4]  # the first of each kind in file order
    ok_latency = sorted((recs[r]["latency_ms"], r) for r in range(120) if recs[r]["status"] == "ok")
    assert slowest == {r for _, r in ok_latency[-SLOWEST:]}
    assert rows[15:] == [r for _, r in sorted(ok_latency, reverse=True)[:SLOWEST] if r not in rows[:15]]


def test_error_examples_are_distinct_messages_of_the_first_failures(tmp_path: Path) -> None:
    messages = ["same"] * 5 + ["other", "same", "third", "fourth"]
    recs = _recs(30) + [record(request_id=f"e{i}", index=100 + i, status="error", error_code="ValidationException",
                               error_class="client", error_message=m) for i, m in enumerate(messages)]
    run = write_run(tmp_path, "run-e", recs)
    render_run([run], formats=())
    (row,) = json.loads((run / "summary.json").read_text())["errors_by_code"]
    assert row["count"] == len(messages) and row["examples"] == ["same", "other", "third"]
    assert sum(row["cells"].values()) == len(messages)
    assert Counter(row["cells"]) == Counter({"demo / us-east-1 / converse / default": len(messages)})


def test_a_copied_run_is_refused_not_counted_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, "run-c", _recs(20))
    copy = tmp_path / "elsewhere" / "run-c-copy"
    shutil.copytree(run, copy)
    with pytest.raises(UserInputError, match="both hold run 'run-c'"):
        render_run([run, copy], out_dir=tmp_path / "out", formats=())
    assert cli.main(["report", str(run), str(copy), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(copy) in err[0]
    assert not (tmp_path / "out").exists()  # nothing written
    assert render_run([run, run], formats=()).is_file()  # the same directory twice counts once
