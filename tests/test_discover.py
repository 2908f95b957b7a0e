"""Discoverable config and user config folders: run --help, --cfg job, --version, run.dry_run, and the
search path (./bedrock-evals/, --config-dir, hydra.searchpath) selecting a user's card, suite and load preset."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evals import emulator as emulator_package
from evals.cards import load_card
from evals.cli import main
from evals.config import compose_config
from evals.paths import MODEL_CARD_DIR
from evals.run.estimate import estimate
from evals.searchpath import split_argv
from evals.types import InferenceParams, Request, Sample


@pytest.fixture
def user_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with ./bedrock-evals/ holding a card, a suite and a load preset; made the cwd."""
    root = tmp_path / "bedrock-evals"
    for group in ("model", "suite", "load"):
        (root / group).mkdir(parents=True)
    card = yaml.safe_load((MODEL_CARD_DIR / "llama3-3-70b.yaml").read_text())
    card["name"] = "my-llama"
    (root / "model" / "my-llama.yaml").write_text("# my account's copy\n" + yaml.safe_dump(card))
    (root / "suite" / "mine.yaml").write_text("# My own questions\nname: mine\nsource: jsonl\npath: mine.jsonl\n"
                                             "scorer: contains\n")
    (tmp_path / "mine.jsonl").write_text("".join(f'{{"id": "q{i}", "prompt": "Say {i}", "answer": "{i}"}}\n'
                                                 for i in range(5)))
    (root / "load" / "gentle.yaml").write_text("# Two in flight\ndefaults:\n  - base_load\nstrategy: closed\n"
                                               "concurrency: 2\n")
    monkeypatch.chdir(tmp_path)
    return root


def test_version_and_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("bedrock-evals ")
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    assert "doctor" in out and "run --help" in out


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_run_help_lists_groups_options_and_keys(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", flag, "model=llama3-3-70b"]) == 0
    out = capsys.readouterr().out
    section = out.split("Config groups", 1)[1].split("Main keys", 1)[0]
    groups = [m.group(1) for m in re.finditer(r"^  (\w+): ", section, re.MULTILINE)]
    assert groups == ["target", "model", "suite", "load", "experiment"]
    assert "*llama3-3-70b" in out and " llama4-maverick" in out  # the override is reflected
    assert "Llama 3.3 70B Instruct (meta.llama3-3-70b-instruct-v1:0)" in out
    for key in ("run.dry_run", "run.preflight", "load.concurrency", "transport.retry_mode", "apis"):
        line = next(line for line in out.splitlines() if line.strip().startswith(key + " "))
        assert len(line.split("]", 1)[1].strip()) > 10  # a one-line description follows the value


def test_cfg_job_prints_the_composed_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--cfg", "job", "load=poisson", "load.rate=3"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["load"]["strategy"] == "poisson" and cfg["load"]["rate"] == 3
    assert cfg["model"]["name"] == "llama4-maverick"
    assert main(["run", "--cfg=hydra"]) == 2
    assert "only 'job'" in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def no_emulator(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a dry run must not start the emulator")

    monkeypatch.setattr(emulator_package, "Emulator", no_emulator)
    code = main(["run", "run.dry_run=true", f"run.out_dir={tmp_path / 'out'}", "suite=reasoning",
                 "suite.sample_size=10", "regions=[us-east-1,us-west-2]", "apis=[converse]", "run.repeats=2"])
    out = capsys.readouterr().out
    assert code == 0 and not (tmp_path / "out").exists()
    cells = [line.split() for line in out.splitlines() if line.startswith("  reasoning/")]
    assert cells == [["reasoning/us-east-1/converse/default", "20"], ["reasoning/us-west-2/converse/default", "20"]]
    assert "minimum duration the quotas allow" in out
    assert "estimated cost on Amazon Bedrock (the emulator charges nothing): " in out


def test_estimate_adds_tokens_cost_and_the_quota_floor() -> None:
    card = load_card("llama4-maverick")  # 800 requests/min, 600000 tokens/min per region
    sample = Sample(id="s", prompt="x" * 300)  # 300 chars / 3 + 16 = 116 estimated input tokens
    reqs = [Request(f"r{i}", i, "s", "1", sample, InferenceParams(max_tokens=884), "converse", region, "default",
                    card.model_id, 0) for i, region in enumerate(["us-east-1"] * 1600 + ["us-west-2"] * 10)]
    est = estimate(card, reqs, lambda r: r.params.max_tokens)
    assert est.requests == 1610 and est.input_tokens == 1610 * 116
    east = next(r for r in est.regions if r.region == "us-east-1")
    assert east.tokens_reserved == 1600 * 1000
    # tokens bind: 1.6M tokens / 600k per minute = 2.67 min, more than 1600 requests / 800 per minute = 2 min
    assert est.min_minutes == pytest.approx(1_600_000 / 600_000)
    p = card.pricing
    assert est.cost_low == pytest.approx(p.cost(1610 * 116, 1610))
    assert est.cost_high == pytest.approx(p.cost(1610 * 116, 1610 * 884))
    halved = estimate(card, reqs, lambda r: r.params.max_tokens, quota_scale=0.5)
    assert halved.min_minutes == pytest.approx(2 * est.min_minutes)


def test_a_local_folder_adds_a_card_a_suite_and_a_load_preset(user_conf: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = compose_config(["model=my-llama", "suite=mine", "load=gentle"])
    assert (cfg.model.name, cfg.suite.name, cfg.load.concurrency) == ("my-llama", "mine", 2)
    assert main(["run", "run.dry_run=true", "model=my-llama", "suite=mine", "load=gentle",
                 "regions=[us-east-1]", "apis=[converse_stream]"]) == 0
    assert "mine/us-east-1/converse_stream/default        " in capsys.readouterr().out
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "my-llama" in out and "My own questions" in out and "gentle" in out and "(found)" in out


def test_config_dir_and_hydra_searchpath_add_folders(tmp_path: Path, user_conf: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    user_conf.rename(elsewhere)
    with pytest.raises(Exception, match="Could not find 'model/my-llama'"):
        compose_config(["model=my-llama"])
    assert compose_config(["--config-dir", str(elsewhere), "model=my-llama"]).model.name == "my-llama"
    assert compose_config(["-cd=elsewhere", "model=my-llama"]).model.name == "my-llama"
    assert compose_config(["hydra.searchpath=[file://elsewhere]", "model=my-llama"]).model.name == "my-llama"
    search, rest = split_argv(["--config-dir", "elsewhere", "hydra.searchpath=[pkg://evals]", "apis=[converse]"])
    assert rest == ["apis=[converse]"]
    assert search.appended == (f"file://{elsewhere}", "pkg://evals")
    assert search.dirs()[1:] == (elsewhere, Path(emulator_package.__file__).parent.parent)


@pytest.mark.parametrize("argv, message", [
    (["--config-dir", "missing"], "--config-dir: .*missing is not a directory"),
    (["hydra.searchpath=[file://missing]"], "hydra.searchpath: .*missing is not a directory"),
    (["hydra.searchpath=[s3://bucket]"], "must start with file:// or pkg://"),
])
def test_bad_user_folders_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err)


def test_a_user_file_with_a_shipped_name_is_refused(user_conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (user_conf / "model" / "llama4-maverick.yaml").write_text("name: llama4-maverick\n")
    assert main(["run", "run.dry_run=true"]) == 2
    err = capsys.readouterr().err
    assert "llama4-maverick.yaml: model=llama4-maverick is a shipped name" in err and err.count("\n") == 1


def test_multirun_reads_the_user_folder_too(user_conf: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "evals.cli", "run", "-m", "model=my-llama,llama4-maverick",
                           "run.dry_run=true", "regions=[us-east-1]", "apis=[converse]", "suite=mine"],
                          capture_output=True, text=True, timeout=120, cwd=user_conf.parent)
    assert done.returncode == 0, done.stderr
    heads = [line for line in done.stdout.splitlines() if line.startswith("dry run:")]
    assert len(heads) == 2 and "to my-llama (" in heads[0] and "to llama4-maverick (" in heads[1]
