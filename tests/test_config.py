"""Config composition: defaults, overrides, and one-line exit-2 errors before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.cli import main
from evals.config import compose_config


def test_defaults_compose_to_the_documented_shape() -> None:
    cfg = compose_config([])
    assert cfg.target.kind == "local"
    assert cfg.model.name == "llama4-maverick"
    assert cfg.load.strategy == "closed"
    assert list(cfg.apis) == ["converse", "invoke"]
    assert cfg.run.out_dir == "reports"


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
