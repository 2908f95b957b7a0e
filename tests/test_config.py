"""Config composition: defaults, overrides, and one-line exit-2 errors before anything is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from evals.cli import main
from evals.config import TargetConf, compose_config, emulator_options
from evals.emulator.cli import options_from_argv
from evals.emulator.options import TARGET_SETTINGS, EmulatorOptions


def test_defaults_compose_to_the_documented_shape() -> None:
    cfg = compose_config([])
    assert cfg.target.kind == "local"
    assert cfg.model.name == "llama4-maverick"
    assert cfg.load.strategy == "closed"
    assert list(cfg.apis) == ["converse", "invoke"]
    assert cfg.run.out_dir == "reports"


def test_every_emulator_setting_has_one_default_for_runs_and_the_standalone_emulator() -> None:
    """A run's default target, the `bedrock-evals emulator` CLI and EmulatorOptions agree on every shared key."""
    from_run = EmulatorOptions.from_dict(emulator_options(compose_config([])), origin="target")
    from_cli = options_from_argv([])
    defaults = EmulatorOptions()
    for key in (*TARGET_SETTINGS, "faults"):
        assert getattr(from_run, key) == getattr(defaults, key) == getattr(from_cli, key), key
    shared = {f.name for f in dataclasses.fields(TargetConf)} & {f.name for f in dataclasses.fields(EmulatorOptions)}
    # endpoints_file names different files (the one to read, the one to write); every other shared key is wired
    assert shared - {"endpoints_file", "faults"} == set(TARGET_SETTINGS)


def test_target_settings_reach_the_emulator_options() -> None:
    cfg = compose_config(["target.engine=oracle", "target.oracle_accuracy=0.25", "target.fixed_ttft_ms=7",
                          "target.faults.throttle=0.5", "run.seed=5"])
    options = EmulatorOptions.from_dict(emulator_options(cfg), origin="target")
    assert (options.engine, options.oracle_accuracy, options.fixed_ttft_ms) == ("oracle", 0.25, 7.0)
    assert options.faults.throttle == 0.5 and options.seed == 5  # no target.seed: the run's seed


def test_overrides_reach_typed_nodes() -> None:
    cfg = compose_config(["load=poisson", "load.rate=25", "model=llama3-3-70b", "run.repeats=2", "target=aws"])
    assert cfg.load.strategy == "poisson" and cfg.load.rate == 25.0
    assert cfg.model.model_id == "meta.llama3-3-70b-instruct-v1:0"
    assert cfg.run.repeats == 2
    assert cfg.target.kind == "aws"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("run.repeatz=3", "run.repeatz"),
        ("load.concurrency=many", "load.concurrency"),
        ("model=gpt-9", "model"),
        ("target.faults.throttel=0.5", "target.faults.throttel"),
        ("apis=[converse,telepathy]", "telepathy"),
        ("load=poisson", "load.rate"),
        ("load.ramp_s=-1", "load.ramp_s"),
        ("transport.processes=0", "transport.processes"),
    ],
)
def test_bad_config_is_one_line_exit_2_and_writes_nothing(
    override: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    extra = ["load.rate=null"] if override == "load=poisson" else []
    code = main(["run", override, *extra, f"run.out_dir={out_dir}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert needle in err
    assert not out_dir.exists()
