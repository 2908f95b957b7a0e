"""Multirun as one sweep: the folder and its jobs, the closing summary, one-line errors, quota division, and a
sweep folder as one arm of compare and gate (basic launcher; the Ray launcher is in test_sweep_ray.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evals.cards import load_card
from evals.cli import main
from evals.commands.sweep_summary import SWEEP_FILE
from evals.run.quota_share import QuotaShare, budget_keys, divide, make_gate

FAST = ["target.latency_profile=zero", "run.progress=false", "suite.sample_size=2"]


def _sweep(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evals.cli", "run", "-m", *FAST, f"run.out_dir={tmp_path}",
                           *overrides], capture_output=True, text=True, timeout=240, cwd=tmp_path)


def test_a_sweep_is_one_folder_with_its_jobs_inside_and_a_closing_summary(tmp_path: Path) -> None:
    done = _sweep(tmp_path, "regions=[us-east-1],[us-west-2]", "apis=[converse]", "run.name=nightly")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    sweep = Path(lines[-1])
    assert sweep.parent == tmp_path and sweep.name.endswith("-nightly")
    # beside the sweep folder: only the history index, not one folder per job
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([sweep.name, "history.sqlite"])
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name.split("-j", 1)[1] for p in jobs] == ["0-regions-us-east-1", "1-regions-us-west-2"]
    for job in jobs:
        info = json.loads((job / "run.json").read_text())
        assert info["status"] == "completed" and (job / "report.html").is_file()
        assert info["sweep"]["sweep_id"] == sweep.name
        assert info["quota"]["mode"] == "whole" or info["quota"]["mode"] == "divided"
    plan = json.loads((sweep / SWEEP_FILE).read_text())
    assert [o["status"] for o in plan["outcomes"]] == ["completed", "completed"]
    assert "jobs: 2 done, 0 not done; records: 4 (0 errors)" in done.stdout
    assert f"merged report: {sweep / 'report.html'}" in lines
    summary = json.loads((sweep / "summary.json").read_text())
    assert len(summary["runs"]) == 2 and {c["key"]["region"] for c in summary["cells"]} == {"us-east-1", "us-west-2"}

    # the report command re-renders the same merged report into the sweep folder
    assert main(["report", str(sweep), "--format", "none"]) == 0
    # a sweep folder is one arm of compare and gate
    out = tmp_path / "cmp"
    assert main(["compare", str(sweep), str(sweep), "--out", str(out)]) == 0
    compared = json.loads((out / "compare.json").read_text())
    assert [r["path"] for r in compared["base"]["runs"]] == [str(j) for j in jobs]
    assert main(["gate", str(sweep), str(sweep)]) in (0, 3)  # a verdict over both jobs, not a usage error


@pytest.mark.parametrize(("override", "expected"), [
    ("regionz=[us-east-1],[us-west-2]", "error: config: regionz: Key 'regionz' not in 'Config'"),
    ("regions=[us-east-1],[eu-west-9]", "(job 1: regions=[eu-west-9])"),
    ("load.concurrency=1,x", "load.concurrency: Value 'x' of type 'str' could not be converted to Integer"),
    ("regions=[us-east-1", "error: config: no viable alternative at input '[us-east-1'"),
    ("hydra/launcher=nope", "Could not find 'hydra/launcher/nope'"),
])
def test_multirun_errors_are_one_line_and_exit_2_with_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, expected: str) -> None:
    code = main(["run", "-m", *FAST, f"run.out_dir={tmp_path}", override])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and expected in err
    assert "append" not in err  # never Hydra's "+key" advice
    assert not any(tmp_path.iterdir())


def test_same_line_as_a_single_run_for_a_mistyped_key(capsys: pytest.CaptureFixture[str]) -> None:
    single = main(["run", "regionz=[us-east-1]"]), capsys.readouterr().err
    multi = main(["run", "-m", "regionz=[us-east-1],[us-west-2]"]), capsys.readouterr().err
    assert single == multi and single[0] == 2


def test_divided_quota_is_one_over_the_jobs_that_run_at_once_on_a_key() -> None:
    card = load_card("llama4-maverick")
    shared = {"kind": "local", "endpoints_file": "/tmp/emulator.json"}
    keys = [budget_keys(shared, card, [r]) for r in ("us-east-1", "us-east-1", "us-east-1", "us-west-2")]
    shares = divide(keys, parallel_jobs=2)
    assert [s.fractions for s in shares] == [{"us-east-1": 0.5}] * 3 + [{"us-west-2": 1.0}]
    assert [s.fractions for s in divide(keys, parallel_jobs=1)] == [{"us-east-1": 1.0}] * 3 + [{"us-west-2": 1.0}]
    # jobs that each start their own emulator share nothing
    own = [budget_keys({"kind": "local"}, card, ["us-east-1"]) for _ in range(3)]
    assert all(s.fractions == {"us-east-1": 1.0} for s in divide(own, parallel_jobs=3))
    # the limiter plans with the card's quota x the emulator's scale x the share, and says so for run.json
    gate = make_gate({"kind": "local", "quota_scale": 0.5}, card, ["us-east-1"], True, {"quota_scale": 0.1},
                     shares[0])
    described = gate.describe()
    assert described["mode"] == "divided" and described["fractions"] == {"us-east-1": 0.5}
    assert described["limits"]["us-east-1"]["requests_per_minute"] == pytest.approx(800 * 0.1 * 0.5)
    whole = make_gate({"kind": "aws"}, card, ["us-east-1"], True, None, QuotaShare("whole"))
    assert whole.describe()["limits"]["us-east-1"]["tokens_per_minute"] == 600000


def test_joblib_launcher_divides_the_quota_between_concurrent_jobs(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="the joblib extra is not installed")
    from evals.emulator import Emulator, EmulatorOptions

    with Emulator(EmulatorOptions.from_dict({"latency_profile": "zero"})) as emu:
        done = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "apis=[converse],[invoke]",
                      "regions=[us-east-1]", f"target.endpoints_file={emu.endpoints_file}")
    assert done.returncode == 0, done.stderr
    sweep = Path(done.stdout.strip().splitlines()[-1])
    quotas = [json.loads(p.read_text())["quota"] for p in sorted(sweep.glob("*/run.json"))]
    assert [q["fractions"] for q in quotas] == [{"us-east-1": 0.5}, {"us-east-1": 0.5}]
    assert all(q["limits"]["us-east-1"]["requests_per_minute"] == 400 for q in quotas)


def test_a_sweep_whose_driver_was_killed_resumes_as_a_whole(tmp_path: Path) -> None:
    from evals.emulator import Emulator, EmulatorOptions

    slow = {"latency_profile": "fixed", "fixed_latency_ms": 40}
    with Emulator(EmulatorOptions.from_dict(slow)) as emu:
        args = [sys.executable, "-m", "evals.cli", "run", "-m", "run.progress=false", "apis=[converse],[invoke]",
                "regions=[us-east-1]", "suite.sample_size=5", "run.repeats=8", "load.concurrency=1",
                f"target.endpoints_file={emu.endpoints_file}", f"run.out_dir={tmp_path}"]
        driver = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not any(p.read_text().count("\n") >= 5 for p in tmp_path.glob("*/*-j0-*/records.jsonl")):
            assert time.monotonic() < deadline and driver.poll() is None, "job 0 did not get going"
            time.sleep(0.02)
        driver.kill()  # the basic launcher runs jobs in the driver: job 0 dies mid-run, job 1 never starts
        driver.wait()
        (sweep,) = [p for p in tmp_path.iterdir() if p.is_dir()]
        done = subprocess.run([sys.executable, "-m", "evals.cli", "run", f"run.resume={sweep}"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(sweep)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    infos = [json.loads((j / "run.json").read_text()) for j in jobs]
    assert [i["status"] for i in infos] == ["completed", "completed"]
    assert len(infos[0]["resumes"]) == 1 and "resumes" not in infos[1]
    for job in jobs:
        ids = [json.loads(line)["request_id"] for line in (job / "records.jsonl").read_text().splitlines()]
        assert len(ids) == len(set(ids)) == 40
    assert (sweep / "report.html").is_file() and "jobs: 2 done, 0 not done; records: 80" in done.stdout


def test_a_job_that_cannot_see_the_sweep_folder_says_so(tmp_path: Path) -> None:
    from evals.commands.sweep_summary import read_plan
    from evals.errors import UserInputError

    with pytest.raises(UserInputError, match=r"every Ray node must mount the driver's run\.out_dir"):
        read_plan(tmp_path / "not-mounted-here")
