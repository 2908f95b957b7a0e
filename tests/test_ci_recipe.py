"""The CI recipe (docs/ci/bedrock-evals.yml), run from fresh clones: the pull-request job's own shell steps,
extracted from the workflow file and executed with bash as Actions would (`bash -eo pipefail`), with the
harness of each clone standing in for the install step. An unchanged PR passes; a x1.5 slower one fails."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

# the gate's latency verdicts on real runs (an unchanged PR must pass): run alone, after the parallel pass
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parent.parent
# small runs keep the test short (injected latency well above the machine's own noise); the interleaving, seeds,
# rules and gate are the recipe's own
SCALE = 0.5
SMALL = ["suite.generator.n=150", "suite.sample_size=150", f"target.latency_scale={SCALE}"]


def _clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    return dest


def _shim(path: Path, tree: Path) -> Path:
    """`bedrock-evals` of one clone: this interpreter with the clone's package first on the path."""
    path.write_text(f'#!/bin/sh\nPYTHONPATH="{tree}" exec "{sys.executable}" -c '
                    f'"import sys; from evals.cli import main; sys.exit(main())" "$@"\n', encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _steps(workflow: Path) -> list[dict[str, str]]:
    job = yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"]["emulator-gate"]
    return [s for s in job["steps"] if "run" in s and s.get("name") != "Install the harness"]


def _job(work: Path, latency_factor: float, runs_per_arm: int) -> tuple[dict[str, int], str, Path]:
    base, cand = _clone(work / "base"), _clone(work / "cand")
    for tree in (base, cand):
        args = tree / ".bedrock-evals" / "ci.args"
        args.write_text(args.read_text(encoding="utf-8") + "\n".join(SMALL) + "\n", encoding="utf-8")
    if latency_factor != 1.0:  # the pull request makes every answer slower
        args = cand / ".bedrock-evals" / "ci.args"
        args.write_text(args.read_text(encoding="utf-8") + f"target.latency_scale={SCALE * latency_factor}\n",
                        encoding="utf-8")
    workflow = yaml.safe_load((cand / "docs/ci/bedrock-evals.yml").read_text(encoding="utf-8"))
    summary = work / "step-summary.md"
    env = {**os.environ, **workflow["env"], **workflow["jobs"]["emulator-gate"]["env"],
           "RUNS_PER_ARM": str(runs_per_arm), "GITHUB_STEP_SUMMARY": str(summary),
           "EVALS_BASE": str(_shim(work / "evals-base", base)), "EVALS_CAND": str(_shim(work / "evals-cand", cand))}
    codes: dict[str, int] = {}
    logs = []
    for step in _steps(cand / "docs/ci/bedrock-evals.yml"):
        if codes and any(codes.values()) and step.get("if") != "always()":
            continue
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=work,
                              env=env, capture_output=True, text=True, check=False)
        codes[step["name"]] = proc.returncode
        logs.append(f"== {step['name']} ({proc.returncode})\n{proc.stdout}{proc.stderr}")
    return codes, "\n".join(logs), summary


@pytest.mark.parametrize(("factor", "runs_per_arm", "gate_exit"), [(1.0, 2, 0), (1.5, 1, 1)])
def test_recipe_from_fresh_clones(tmp_path: Path, factor: float, runs_per_arm: int, gate_exit: int) -> None:
    codes, log, summary = _job(tmp_path, factor, runs_per_arm)
    runs = "Baseline and candidate runs, interleaved (ABAB), same seed per pair"
    assert codes[runs] == 0, log
    assert codes["Gate"] == gate_exit, log
    assert codes["Comparison report"] == 0, log
    gate_log = log.split("== Gate")[1]
    assert "\\_" not in gate_log and "&lt;" not in gate_log and "| **" not in gate_log  # plain text in the log
    assert "## bedrock-evals gate:" in summary.read_text(encoding="utf-8")  # Markdown in the step summary
    props = [p.get("value") for p in ET.parse(tmp_path / "gate-junit.xml").getroot().iter("property")]
    assert props and "nan" not in props
    base_dirs = (tmp_path / "base.dirs").read_text(encoding="utf-8").split()
    cand_dirs = (tmp_path / "cand.dirs").read_text(encoding="utf-8").split()
    started = sorted(base_dirs + cand_dirs, key=lambda d: Path(d).name)  # run ids start with their start time
    expected = [["base-1", "cand-1"], ["base-1", "cand-1", "base-2", "cand-2"]][runs_per_arm - 1]
    assert [Path(d).name.split("-", 1)[1] for d in started] == expected
    if gate_exit:
        assert "latency_p50" in gate_log and "FAIL" in gate_log
