"""Untrusted text (suite names, item ids, prompts, answers) never reaches a terminal, a Markdown summary or a CSV
as control characters or bidi overrides: a suite built to attack every sink is run, reported, indexed, compared
and gated, and every output is scanned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.untrusted import for_csv, for_markdown, for_terminal

REPO = Path(__file__).resolve().parent.parent
ESC, RLO, NUL, BEL = "\x1b", "\u202e", "\x00", "\x07"
RAW = (ESC, RLO, NUL, BEL, "\u2066", "\x9b")
EVIL_NAME = f"ev{ESC}[31mRED{RLO}il"


def test_neutralisers() -> None:
    evil = f"a{ESC}[31mb{RLO}c{NUL}d\ne{BEL}\x9b"
    assert for_terminal(evil) == "a\\x1b[31mb\\u202ec\\x00d e\\x07\\x9b"
    assert for_terminal("x\ny", keep_newlines=True) == "x\ny"
    assert for_markdown(f"|{ESC}<b>*") == "\\|\\\\x1b&lt;b&gt;\\*"
    assert for_csv(f"x{NUL}y\nz{RLO}") == "x\\x00y\nz\\u202e"
    assert for_csv(None) is None


def _write_suite(folder: Path) -> Path:
    (folder / "items.jsonl").write_text("".join(
        json.dumps({"id": f"i{RLO}{i}{ESC}[2J", "prompt": f"Say {i}{NUL} now {ESC}]0;title{BEL}",
                    "answer": f"{i}{NUL}"}) + "\n" for i in range(4)), encoding="utf-8")
    definition = folder / "evil.yaml"
    definition.write_text('name: "ev\\e[31mRED\\u202eil"\nversion: "1"\nsource: jsonl\npath: items.jsonl\n'
                          "scorers: [{name: normalized_exact}]\n", encoding="utf-8")
    return definition


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "evals.cli", *args], env=full, capture_output=True, text=True,
                          timeout=180)


def _clean(text: str, where: str) -> None:
    for ch in RAW:
        assert ch not in text, f"{where} holds {ch!r}"


@pytest.fixture(scope="module")
def evil_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    folder = tmp_path_factory.mktemp("evil")
    definition = _write_suite(folder)
    out = folder / "out"
    done = []
    for seed in (1, 2):
        done.append(_cli("run", "suite=jsonl", f"suite.definition={definition}", f"suite.name='{EVIL_NAME}'",
                         "apis=[converse]",
                         "regions=[us-east-1]", "target.latency_profile=zero", f"run.out_dir={out}",
                         f"run.seed={seed}", f"run.name=evil{seed}", "run.progress=false"))
    return out, done


def test_run_terminal_and_stderr_are_clean(evil_runs: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    _, done = evil_runs
    for proc in done:
        assert proc.returncode == 0, proc.stderr
        _clean(proc.stdout, "run stdout")
        _clean(proc.stderr, "run stderr (summary table, plot warnings)")
        assert "ev\\x1b[31mRED" in proc.stderr  # the name is shown, its control characters as visible escapes
        assert "Glyph 27 (\\x1b) missing" in proc.stderr  # matplotlib's warning quotes it neutralised


def test_records_csv_has_no_control_bytes(evil_runs: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    out, _ = evil_runs
    csvs = list(out.glob("*/records.csv"))
    assert len(csvs) == 2
    for csv in csvs:
        _clean(csv.read_text(encoding="utf-8"), str(csv))


def test_history_gate_and_compare_outputs_are_clean(
    tmp_path: Path, evil_runs: tuple[Path, list[subprocess.CompletedProcess[str]]]
) -> None:
    out, _ = evil_runs
    base, cand = sorted(p for p in out.iterdir() if p.is_dir())
    history = _cli("history", "--db", str(out / "history.sqlite"), "list")
    assert history.returncode == 0, history.stderr
    _clean(history.stdout + history.stderr, "history")
    summary, step = tmp_path / "summary.md", tmp_path / "step.md"
    gate = _cli("gate", str(base), str(cand), "--summary", str(summary), env={"GITHUB_STEP_SUMMARY": str(step)})
    assert gate.returncode in (0, 1, 3), gate.stderr
    _clean(gate.stdout + gate.stderr, "gate terminal")
    for path in (summary, step):
        text = path.read_text(encoding="utf-8")
        assert "ev" in text
        _clean(text, str(path))
    compare = _cli("compare", str(base), str(cand), "--out", str(tmp_path / "cmp"))
    assert compare.returncode == 0, compare.stderr
    _clean(compare.stdout + compare.stderr, "compare terminal")
