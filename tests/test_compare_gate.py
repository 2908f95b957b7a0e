"""compare and gate: synthetic run directories written with the real RunDirectory/RecordWriter, and real runs
on the emulator (oracle engine for known accuracy, latency_scale for a known slowdown)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evals import cli
from evals.commands.gate import load_rules
from evals.results.metrics import METRICS
from evals.results.rundir import RecordWriter, RunDirectory

MODEL = "us.meta.llama4-maverick-17b-instruct-v1:0"


def make_run(
    out: Path, name: str, *, items: int = 300, regions: tuple[str, ...] = ("us-east-1",),
    apis: tuple[str, ...] = ("converse",), accuracy: float = 0.8, slowdown: float = 1.0, seed: int = 0,
    error_p: float = 0.0, model: str = MODEL, repeats: int = 1, suite: str = "synth", item_scores: bool = True,
) -> Path:
    """A finished run directory with synthetic records.

    Latency: a per-item factor (prompt length) times lognormal noise from `seed`, times `slowdown`.
    Scores: `item_scores` makes correctness a property of the item (a deterministic model at temperature 0,
    threshold `accuracy`); otherwise each request is right with probability `accuracy`, independently.
    """
    rng = np.random.default_rng(seed)
    run_dir = RunDirectory.create(out, name)
    run_dir.write_run({"run_id": name, "status": "completed", "model": {"model_id": model},
                       "target": {"kind": "local", "emulator": True},
                       "suites": [{"name": suite, "version": "1"}]})
    writer = RecordWriter(run_dir.records_file)
    for region in regions:
        for api in apis:
            for i in range(items):
                item_rng = np.random.default_rng(10_000 + i)
                factor, item_u = math.exp(item_rng.normal(0, 0.3)), item_rng.random()
                for rep in range(repeats):
                    ok = rng.random() >= error_p
                    latency = 400 * factor * slowdown * math.exp(rng.normal(0, 0.25))
                    right = item_u < accuracy if item_scores else rng.random() < accuracy
                    writer.write({
                        "request_id": f"{region}-{api}-{i}-{rep}", "sample_id": f"item-{i}", "suite": suite,
                        "region": region, "api": api, "tier": "default", "model_id": model, "repeat": rep,
                        "warmup": False, "status": "ok" if ok else "error",
                        "error_code": None if ok else "InternalServerException", "attempts": 1, "throttles": 0,
                        "latency_ms": latency, "ttft_ms": latency * 0.3 if api.endswith("_stream") else None,
                        "input_tokens": 120, "output_tokens": 40 if ok else None,
                        "score": (1.0 if right else 0.0) if ok else None,
                        "cost_usd": 0.00005 if ok else None,
                    })
    writer.close()
    return run_dir.path


def gate(*args: Any) -> int:
    return cli.main(["gate", *[str(a) for a in args]])


def verdicts(out: str) -> list[tuple[str, str]]:
    """(verdict, rule) of every check row of the gate's plain-text terminal output."""
    rows = [line.split() for line in out.splitlines()]
    return [(r[0], r[1]) for r in rows if len(r) > 1 and r[0] in ("PASS", "FAIL", "INCONCLUSIVE")]


def failed_rules(out: str) -> list[str]:
    return [rule for verdict, rule in verdicts(out) if verdict == "FAIL"]


# ---------------------------------------------------------------------------------------------- gate


def test_gate_fails_planted_latency_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", seed=1)
    cand = make_run(tmp_path, "cand", seed=2, slowdown=1.5)
    assert gate(base, cand) == 1
    out = capsys.readouterr().out
    assert "gate: FAIL (exit 1)" in out
    assert "latency_p50" in failed_rules(out)
    assert "accuracy" not in failed_rules(out)  # only latency was planted
    assert "\\_" not in out and "&lt;" not in out and "| **" not in out  # plain text on the terminal


def test_gate_fails_planted_accuracy_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", seed=1, items=500)
    cand = make_run(tmp_path, "cand", seed=2, items=500, accuracy=0.7)
    assert gate(base, cand) == 1
    assert failed_rules(capsys.readouterr().out) == ["accuracy"]


def test_gate_passes_aa_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "a1", seed=11)
    cand = make_run(tmp_path, "a2", seed=12)
    assert gate(base, cand) == 0, capsys.readouterr().out
    assert "gate: PASS (exit 0)" in capsys.readouterr().out


def test_gate_underpowered_pair_is_inconclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "small-a", items=20, seed=1)
    cand = make_run(tmp_path, "small-b", items=20, seed=2)
    assert gate(base, cand) == 3
    out = capsys.readouterr().out
    assert "neither ruled in nor out" in out and not failed_rules(out)
    # the policy turns inconclusive into pass or fail, from the CLI or the rules file
    assert gate(base, cand, "--inconclusive=pass") == 0
    assert gate(base, cand, "--inconclusive", "fail") == 1
    rules = tmp_path / "rules.yaml"
    rules.write_text("inconclusive: fail\nrules:\n  - {metric: latency_p50, margin: 0.1}\n", encoding="utf-8")
    assert gate(base, cand, "--rules", rules) == 1


def test_gate_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", items=40)
    assert gate(base, tmp_path / "missing") == 2
    assert "missing: no such run directory" in capsys.readouterr().err

    other_region = make_run(tmp_path, "west", items=40, regions=("us-west-2",))
    assert gate(base, other_region) == 2
    err = capsys.readouterr().err
    assert "cells differ" in err and "only in baseline" in err and err.count("\n") == 1

    other_model = make_run(tmp_path, "llama3", items=40, model="us.meta.llama3-3-70b-instruct-v1:0")
    assert gate(base, other_model) == 2
    assert "--allow-model-change" in capsys.readouterr().err
    assert gate(base, other_model, "--allow-model-change") in (0, 1, 3)

    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    assert gate(base, not_a_run) == 2
    assert "not a run directory" in capsys.readouterr().err

    assert gate(base) == 2  # one directory: usage
    capsys.readouterr()


@pytest.mark.parametrize(("text", "needle"), [
    ("rules: [ {metric: latency_p50", "not valid YAML"),
    ("rules:\n  - {metric: latency_p50, margin: 0.1, marginn: 2}\n", "rules[0].marginn: unknown key"),
    ("rules:\n  - {metric: latency_p55, margin: 0.1}\n", "rules[0].metric: must be one of"),
    ("rules:\n  - {metric: accuracy}\n", "rules[0].margin: missing"),
    ("alpha: 2\nrules:\n  - {metric: accuracy, margin: 0.1}\n", "alpha: must be a number in"),
    ("alpha: 0.1\nconfidence: 0.9\nrules:\n  - {metric: accuracy, margin: 0.1}\n", "confidence: give alpha or"),
    ("min_samples: 30\nrules:\n  - {metric: accuracy, margin: 0.1}\n", "min_samples: unknown key"),
])
def test_gate_bad_rules_file_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                                needle: str) -> None:
    base = make_run(tmp_path, "base", items=30)
    cand = make_run(tmp_path, "cand", items=30, seed=3)
    rules = tmp_path / "rules.yaml"
    rules.write_text(text, encoding="utf-8")
    assert gate(base, cand, "--rules", rules) == 2
    err = capsys.readouterr().err.strip()
    assert str(rules) in err and needle in err and "\n" not in err
    assert gate(base, cand, "--rules", tmp_path / "nope.yaml") == 2
    assert "nope.yaml: cannot read rules file" in capsys.readouterr().err


def test_gate_junit_and_step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", seed=1, apis=("converse", "converse_stream"))
    cand = make_run(tmp_path, "cand", seed=2, slowdown=1.3, apis=("converse", "converse_stream"))
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "out" / "gate.xml"
    assert gate(base, cand, "--junit", junit) == 1
    out = capsys.readouterr().out
    text = summary.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| **")]
    assert text.startswith("# earlier step\n") and "## bedrock-evals gate: FAIL (exit 1)" in text
    assert "## " not in out and len(verdicts(out)) == len(rows)  # Markdown to the summary only
    assert "nan" not in {p.get("value") for p in ET.parse(junit).getroot().iter("property")}

    root = ET.parse(junit).getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(rows) == int(root.get("tests"))
    n_fail = sum(line.startswith("| **FAIL**") for line in rows)
    n_inc = sum(line.startswith("| **INCONCLUSIVE**") for line in rows)
    assert n_fail > 0
    assert len(root.findall(".//failure")) == n_fail == int(root.get("failures"))
    assert len(root.findall(".//skipped")) == n_inc == int(root.get("skipped"))
    # TTFT only in the streaming cell: one case per rule and cell where the rule has values
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("gate.ttft_p50", "synth / us-east-1 / converse_stream / default") in names
    assert ("gate.ttft_p50", "synth / us-east-1 / converse / default") not in names


def test_gate_junit_inconclusive_policies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "a", items=20, seed=1)
    cand = make_run(tmp_path, "b", items=20, seed=2)
    junit = tmp_path / "g.xml"
    assert gate(base, cand, "--junit", junit, "--inconclusive=fail") == 1
    root = ET.parse(junit).getroot()
    inconclusive = [p for p in root.iter("property") if p.get("name") == "verdict" and p.get("value") == "INCONCLUSIVE"]
    assert int(root.get("failures")) == len(inconclusive) > 0 and root.find(".//skipped") is None
    assert {f.get("type") for f in root.iter("failure")} == {"inconclusive"}
    assert gate(base, cand, "--junit", junit, "--inconclusive=pass") == 0
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0" and root.get("skipped") == "0"
    assert {p.get("value") for p in root.iter("property") if p.get("name") == "verdict"} == {"INCONCLUSIVE", "PASS"}
    capsys.readouterr()


def test_gate_holm_family_counts_every_check(tmp_path: Path) -> None:
    """Adding more rule x cell checks can only raise the adjusted p of a given check (Holm)."""
    from evals.results.arms import load_arm, match_runs
    from evals.results.verdicts import evaluate

    base = make_run(tmp_path, "a", seed=1, regions=("us-east-1", "us-west-2"))
    cand = make_run(tmp_path, "b", seed=2, slowdown=1.25, regions=("us-east-1", "us-west-2"))
    matched = match_runs(load_arm([base], "baseline"), load_arm([cand], "candidate"))
    one = tmp_path / "one.yaml"
    one.write_text("rules:\n  - {metric: latency, margin: 0.1}\n", encoding="utf-8")
    many = tmp_path / "many.yaml"
    many.write_text("rules:\n  - {metric: latency, margin: 0.1}\n  - {metric: latency_p50, margin: 0.1}\n"
                    "  - {metric: tokens_per_s, margin: 0.1}\n", encoding="utf-8")

    def adjusted(path: Path) -> dict[Any, float]:
        specs = [r.spec() for r in load_rules(path).rules]
        return {c.cell: c.p_adjusted for c in evaluate(specs, matched.cells)[0] if c.spec.name == "latency"}

    p_one, p_many = adjusted(one), adjusted(many)
    assert len(p_one) == 2
    assert all(p_many[k] >= p_one[k] for k in p_one)
    assert any(p_many[k] > p_one[k] for k in p_one)


def test_gate_markdown_escapes_untrusted_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "<img src=x onerror=alert(1)>|pwn"
    base = make_run(tmp_path, "a", items=40, suite=evil, seed=1)
    cand = make_run(tmp_path, "b", items=40, suite=evil, seed=2)
    summary = tmp_path / "summary.md"
    gate(base, cand, "--summary", summary, "--junit", tmp_path / "g.xml")
    text = summary.read_text(encoding="utf-8")
    assert "<img" not in text and "&lt;img" in text and "\\|pwn" in text
    out = capsys.readouterr().out
    assert evil in out  # the terminal shows the label as it is (plain text: nothing renders it)
    bell = make_run(tmp_path, "c", items=40, suite="x\x1b[2J\x07y", seed=3)
    bell2 = make_run(tmp_path, "d", items=40, suite="x\x1b[2J\x07y", seed=4)
    gate(bell, bell2)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "x\\x1b[2J\\x07y" in out


def test_gate_bad_output_path_fails_before_printing_a_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A JUnit or summary target that cannot be written: one error line, exit 2, no verdict, nothing written."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    base = make_run(tmp_path, "a", items=40, seed=1)
    cand = make_run(tmp_path, "b", items=40, seed=2)
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    bad_junit = blocker / "gate.xml"  # its parent is a file
    assert gate(base, cand, "--junit", bad_junit, "--summary", summary) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and str(bad_junit) in err
    assert summary.read_text(encoding="utf-8") == "# earlier step\n"

    junit = tmp_path / "ok" / "gate.xml"
    bad_summary = tmp_path / "a-dir"
    bad_summary.mkdir()
    new_summary = tmp_path / "new-summary.md"
    assert gate(base, cand, "--junit", junit, "--summary", new_summary, "--summary", bad_summary) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and str(bad_summary) in err
    assert not junit.exists() and not new_summary.exists()
    assert [p.name for p in junit.parent.iterdir()] == []  # no temporary JUnit file left behind

    assert gate(base, cand, "--junit", junit, "--summary", summary) in (0, 1, 3)
    assert "bedrock-evals gate:" in capsys.readouterr().out and junit.exists()
    assert "## bedrock-evals gate:" in summary.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- compare


def _compare(*args: Any) -> int:
    return cli.main(["compare", *[str(a) for a in args]])


def test_compare_two_runs_writes_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "<script>alert(1)</script>"
    base = make_run(tmp_path, "base", seed=1, suite=evil)
    cand = make_run(tmp_path, "cand", seed=2, slowdown=1.3, suite=evil)
    out = tmp_path / "cmp"
    assert _compare(base, cand, "--out", out) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    (cell,) = data["cells"]
    by_metric = {m["metric"]: m for m in cell["metrics"]}
    assert by_metric["latency"]["verdict"] == "worse"
    assert 1.2 < by_metric["latency"]["estimate"] < 1.4
    assert by_metric["latency"]["low"] < by_metric["latency"]["estimate"] < by_metric["latency"]["high"]
    assert by_metric["latency"]["unit_of_analysis"] == "items (paired)"
    assert by_metric["accuracy"]["verdict"] == "within the margin"  # same items, same answers
    assert by_metric["error_rate"]["p_adjusted"] is not None and by_metric["latency"]["margin"] == 0.10
    assert "ttft_p50" not in by_metric  # no streaming API: no TTFT to compare
    assert by_metric["latency"]["gate_verdict"] == "FAIL" and "slower" in by_metric["latency"]["words"]
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "http://" not in html and "https://" not in html


def test_compare_too_few_samples_told_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "a", items=12, seed=1)
    cand = make_run(tmp_path, "b", items=12, seed=2)
    assert _compare(base, cand, "--out", tmp_path / "c") == 0
    data = json.loads((tmp_path / "c" / "compare.json").read_text(encoding="utf-8"))
    verdicts = {m["metric"]: m["verdict"] for m in data["cells"][0]["metrics"]}
    # 12 items of synthetic latency: intervals far wider than a 10 % margin, so neither worse nor within it
    assert verdicts["latency_p90"] == "inconclusive"
    assert verdicts["latency"] == "inconclusive"
    capsys.readouterr()


def test_compare_two_regions_inside_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "run", regions=("us-east-1", "us-west-2"), apis=("converse", "invoke"), repeats=2)
    out = tmp_path / "by-region"
    assert _compare(run, "--by", "region", "--base", "us-east-1", "--cand", "us-west-2", "--out", out) == 0
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert data["by"] == {"dimension": "region", "base": "us-east-1", "cand": "us-west-2"}
    assert [c["label"] for c in data["cells"]] == ["synth / * / converse / default", "synth / * / invoke / default"]
    latency = next(m for m in data["cells"][0]["metrics"] if m["metric"] == "latency")
    assert latency["unit_of_analysis"] == "items (paired)" and latency["n_base"] == 300  # repeats averaged per item
    assert latency["verdict"] in ("within the margin", "inconclusive")
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert "region=us-east-1" in html

    assert _compare(run, "--by", "region", "--base", "us-east-1", "--cand", "eu-west-1") == 2
    assert "--cand: no records with region='eu-west-1'" in capsys.readouterr().err
    assert _compare(run, "--by", "region", "--base", "us-east-1") == 2
    capsys.readouterr()


def test_several_runs_per_arm_use_run_level_latency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [make_run(tmp_path, f"b{i}", seed=i, items=60) for i in range(3)]
    cand = [make_run(tmp_path, f"c{i}", seed=10 + i, items=60, slowdown=1.5, accuracy=0.8) for i in range(3)]
    out = tmp_path / "multi"
    assert _compare(*base, "--", *cand, "--out", out) == 0
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    metrics = {m["metric"]: m for m in data["cells"][0]["metrics"]}
    assert metrics["latency_p50"]["unit_of_analysis"] == "runs" and metrics["latency_p50"]["n_base"] == 3
    # timing moves with each run's weather, cost does not: tokens/s is judged run by run, cost paired by item
    assert metrics["tokens_per_s"]["unit_of_analysis"] == "runs" and metrics["latency"]["unit_of_analysis"] == "runs"
    assert metrics["cost_per_request"]["unit_of_analysis"] == "items (paired)"
    assert metrics["accuracy"]["unit_of_analysis"] == "items (paired)" and metrics["accuracy"]["n_base"] == 60
    assert metrics["latency"]["verdict"] == "worse"
    assert len(data["base"]["runs"]) == 3
    # the gate accepts the same form: run-level latency needs min_runs (3) runs per arm
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - {metric: latency_p50, margin: 0.1}\n", encoding="utf-8")
    assert gate(*base, "--", *cand, "--rules", rules) == 1
    out = capsys.readouterr().out
    assert verdicts(out) == [("FAIL", "latency_p50")] and "run level (Welch on per-run figures)" in out
    # fewer runs than min_runs: within-run batch means over send time, said so
    assert gate(*base[:2], "--", *cand[:2], "--rules", rules) == 1
    assert "batch means over send time" in capsys.readouterr().out


def test_engine_on_identical_answers_and_costs(tmp_path: Path) -> None:
    """Identical per-item answers give a zero accuracy difference; identical costs a ratio of exactly 1; both
    inside their margins."""
    from evals.results.arms import load_arm, match_runs
    from evals.results.findings import interval, label
    from evals.results.rules import load_rules, questions
    from evals.results.verdicts import judge

    a = make_run(tmp_path, "a", seed=1, items=200)
    b = make_run(tmp_path, "b", seed=2, items=200)
    matched = match_runs(load_arm([a], "baseline"), load_arm([b], "candidate"))
    decided, _ = judge(questions(load_rules(), [METRICS["accuracy"], METRICS["cost_per_request"]]), matched.cells)
    by = {d.spec.metric: d for d in decided}
    assert by["accuracy"].measured.unit == "items (paired)" and interval(by["accuracy"])[0] == 0
    assert interval(by["cost_per_request"])[0] == pytest.approx(1.0)
    assert label(by["accuracy"]) == label(by["cost_per_request"]) == "within the margin"


def test_compare_out_path_that_is_a_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "a", items=20, seed=1)
    cand = make_run(tmp_path, "b", items=20, seed=2)
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me", encoding="utf-8")
    assert _compare(base, cand, "--out", taken) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == f"error: {taken}: output path exists and is not a directory"
    assert taken.read_text(encoding="utf-8") == "keep me"
    assert _compare(base, cand, "--out", taken / "sub") == 2  # a file in the way of the parent
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(taken / "sub") in err and "cannot write" in err


# ---------------------------------------------------------------------------------------------- emulator


@pytest.fixture(scope="module")
def emulator_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real runs on the emulator: a baseline, an A/A repeat, a slower candidate and a less accurate one."""
    out = tmp_path_factory.mktemp("emu")

    def run(*overrides: str) -> Path:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            code = cli.main(["run", "suite=reasoning", "suite.sample_size=200", "regions=[us-east-1,us-west-2]",
                             "apis=[converse]", "target.engine=oracle", "target.oracle_accuracy=0.8",
                             "target.latency_scale=0.3", "load.concurrency=16", "run.report=false",
                             "run.progress=false", f"run.out_dir={out}", *overrides])
        assert code == 0, buf.getvalue()
        return Path(buf.getvalue().strip().splitlines()[-1])

    return {
        "base": run("run.seed=1", "target.seed=7", "run.name=base"),
        "aa": run("run.seed=2", "target.seed=7", "run.name=aa"),
        "slow": run("run.seed=3", "target.seed=7", "target.latency_scale=0.45", "run.name=slow"),
        "worse": run("run.seed=4", "target.seed=8", "target.oracle_accuracy=0.5", "run.name=worse"),
    }


@pytest.mark.serial
def test_emulator_gate_aa_slow_and_worse(emulator_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    r = emulator_runs
    # A/A: never FAIL. Latency draws are independent between the two runs, so a p90 whose bound lands just past
    # its margin is INCONCLUSIVE (exit 3) now and then; accuracy, with the same answers, is always PASS.
    code = gate(r["base"], r["aa"])
    out = capsys.readouterr().out
    assert code in (0, 3) and not failed_rules(out), out
    assert [v for v, rule in verdicts(out) if rule == "accuracy"] == ["PASS", "PASS"]
    assert gate(r["base"], r["slow"]) == 1
    failed = failed_rules(capsys.readouterr().out)
    assert "latency_p50" in failed and "accuracy" not in failed
    assert gate(r["base"], r["worse"]) == 1
    assert "accuracy" in failed_rules(capsys.readouterr().out)


@pytest.mark.serial
def test_emulator_compare_regions_and_runs(emulator_runs: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    r = emulator_runs
    out = tmp_path / "regions"
    assert _compare(r["base"], "--by", "region", "--base", "us-east-1", "--cand", "us-west-2", "--out", out) == 0
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    (cell,) = data["cells"]
    metrics = {m["metric"]: m for m in cell["metrics"]}
    assert metrics["accuracy"]["unit_of_analysis"] == "items (paired)" and metrics["accuracy"]["n_base"] == 200
    assert metrics["latency"]["unit_of_analysis"] == "items (paired)"
    out2 = tmp_path / "runs"
    assert _compare(r["base"], r["slow"], "--out", out2) == 0
    data = json.loads((out2 / "compare.json").read_text(encoding="utf-8"))
    assert len(data["cells"]) == 2
    for cell in data["cells"]:
        latency = next(m for m in cell["metrics"] if m["metric"] == "latency")
        assert latency["verdict"] == "worse" and latency["estimate"] > 1.2
    capsys.readouterr()


def test_rules_default_file_is_valid() -> None:
    rules = load_rules()
    names = [r.metric.name for r in rules.rules]
    assert {"accuracy", "latency_p50", "latency_p90", "ttft_p50", "error_rate", "throttle_rate", "tokens_per_s",
            "cost_per_request"} <= set(names)
    assert rules.inconclusive == "inconclusive" and 0 < rules.alpha <= 0.1


def test_compare_puts_both_answers_to_the_same_item_side_by_side(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", items=40, seed=1, accuracy=0.9)
    cand = make_run(tmp_path, "cand", items=40, seed=2, accuracy=0.5, error_p=0.1)
    out = tmp_path / "cmp"
    assert _compare(base, cand, "--out", out) == 0
    answers = json.loads((out / "compare.json").read_text(encoding="utf-8"))["answers"]
    assert answers["matched"] == 40 and 0 < answers["differing"] <= 40
    pairs = answers["pairs"]
    assert [p["differs"] for p in pairs] == sorted((p["differs"] for p in pairs), reverse=True)  # differing first
    first = pairs[0]
    assert first["base"]["run_id"] == "base" and first["cand"]["run_id"] == "cand"
    assert first["base"]["status"] != first["cand"]["status"] or first["base"]["score"] != first["cand"]["score"]
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert "Answers side by side" in html and html.count('<tr class="differs">') == answers["differing"]
    capsys.readouterr()


def test_gate_outages_never_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A candidate with no successful request FAILs whatever the policy and n; a dead baseline is bad input."""
    base = make_run(tmp_path, "base", items=29, seed=1)
    dead = make_run(tmp_path, "dead", items=29, seed=2, error_p=1.0)
    for policy in ("pass", "inconclusive", "fail"):
        assert gate(base, dead, f"--inconclusive={policy}") == 1
        assert "outage" in capsys.readouterr().out
    small, small_dead = make_run(tmp_path, "s", items=5, seed=3), make_run(tmp_path, "sd", items=5, seed=4, error_p=1.0)
    assert gate(small, small_dead, "--inconclusive=pass") == 1
    capsys.readouterr()
    assert gate(dead, make_run(tmp_path, "dead2", items=29, seed=5, error_p=1.0), "--inconclusive=pass") == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and str(dead) in err and "no successful request" in err


def test_shown_intervals_agree_with_their_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A "worse" verdict has its whole interval beyond the margin and a "within the margin" one has its worse
    side inside it: the interval shown is the pair of one-sided bounds the verdict is decided on."""
    seen: set[str] = set()
    for k, slowdown in enumerate((1.12, 1.13, 1.14, 1.15, 1.16, 1.17) * 2):  # near the 10 % margin
        base = make_run(tmp_path, f"base{k}", items=120, seed=100 + k)
        cand = make_run(tmp_path, f"cand{k}", items=120, seed=200 + k, slowdown=slowdown)
        assert _compare(base, cand, "--out", tmp_path / f"cmp{k}") == 0
        data = json.loads((tmp_path / f"cmp{k}" / "compare.json").read_text(encoding="utf-8"))
        for m in data["cells"][0]["metrics"]:
            if m["low"] is None or m["edge"] is None:
                continue
            worse_side, better_side = (m["high"], m["low"]) if m["direction"] == "lower" else (m["low"], m["high"])
            beyond = (lambda v, e: v > e) if m["direction"] == "lower" else (lambda v, e: v < e)
            if m["verdict"] == "worse":
                assert beyond(better_side, m["edge"]), m
            if m["verdict"] == "within the margin":
                assert not beyond(worse_side, m["edge"]), m
            seen.add(m["verdict"])
    assert {"worse", "within the margin"} <= seen
    capsys.readouterr()
