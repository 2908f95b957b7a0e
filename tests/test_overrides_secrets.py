"""`+`/`++` overrides held to the schema, and a secrets scan of every output of a run made with fake credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.cli import main
from evals.config import compose_config
from evals.emulator import EmulatorOptions
from evals.emulator.process import EmulatorProcess
from evals.redact import redact_argv, redact_config

REPO = Path(__file__).resolve().parent.parent
FAKE = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE7777",
    "AWS_SECRET_ACCESS_KEY": "fakeSecretKeyValue/0123456789abcdefghijkl",
    "AWS_SESSION_TOKEN": "fakeSessionTokenValue0123456789",
    "AWS_BEARER_TOKEN_BEDROCK": "ABSKZmFrZWJlYXJlcnRva2VudmFsdWU0Mg==",
}
EMU_CREDS = {"access_key_id": "AKIAEMULATOR00000042", "secret_access_key": "emulatorSecretValue0123456789xyz",
             "api_key": "ABSKZW11bGF0b3JhcGlrZXl2YWx1ZTQy"}
TYPED_SECRET = "typedSecretOnTheCommandLine123"


@pytest.mark.parametrize(("override", "expected"), [
    ("+load.concurency=8", "config: load.concurency: not a config key, so it would be ignored; "
                           "did you mean load.concurrency?"),
    ("++run.repats=3", "config: run.repats: not a config key, so it would be ignored; did you mean run.repeats?"),
    (f"+target.aws_secret_access_key={TYPED_SECRET}", "config: target.aws_secret_access_key: not a config key"),
    ("+model.max_output_token=5", "config: model.max_output_token: not a config key"),
    ("++run.repeats=many", "config: run.repeats: Value 'many'"),
    ("model.max_output_tokens=lots", "config: model.max_output_tokens: Value 'lots'"),
])
def test_plus_overrides_are_checked_like_any_other(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   override: str, expected: str) -> None:
    code = main(["run", f"run.out_dir={tmp_path / 'out'}", override])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {expected}"), err
    assert TYPED_SECRET not in err  # a refused key is named, its value never echoed
    assert not (tmp_path / "out").exists()


def test_plus_plus_on_a_known_key_is_a_typed_override() -> None:
    cfg = compose_config(["++run.repeats=3", "+load.concurrency=2", "+experiment=quickstart"])
    assert cfg.run.repeats == 3 and cfg.load.concurrency == 2


def test_redaction_of_argv_and_config() -> None:
    argv = ["run", f"+target.aws_secret_access_key={TYPED_SECRET}", "run.name=AKIAIOSFODNN7EXAMPLE",
            "run.max_tokens_total=5", "api_key=xyz"]
    assert redact_argv(argv) == ["run", "+target.aws_secret_access_key=***", "run.name=***",
                                 "run.max_tokens_total=5", "api_key=***"]
    cfg = {"run": {"max_tokens_total": 5, "name": "ASIAABCDEFGHIJKLMNOP"}, "x": {"password": "p", "token": None}}
    assert redact_config(cfg) == {"run": {"max_tokens_total": 5, "name": "***"},
                                  "x": {"password": "***", "token": None}}


@pytest.fixture
def external_emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    options = EmulatorOptions.from_dict({"latency_profile": "zero", "seed": 5, "credentials": EMU_CREDS,
                                         "endpoints_file": str(tmp_path / "emu" / "endpoints.json")})
    with EmulatorProcess(options) as emu:
        yield emu


def _all_outputs(root: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "endpoints.json":  # the endpoints file is the credentials' home
            yield path, path.read_bytes()


def test_no_secret_reaches_any_output_of_a_run(tmp_path: Path, external_emulator: EmulatorProcess) -> None:
    out = tmp_path / "out"
    env = {**os.environ, **FAKE, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "evals.cli", "run"]
    common = [f"run.out_dir={out}", f"target.endpoints_file={external_emulator.endpoints_file}", "suite=reasoning",
              "suite.sample_size=3", "apis=[converse]", "regions=[us-east-1]", "run.progress=false",
              "run.name=AKIAIOSFODNN7EXAMPLE"]
    refused = subprocess.run([*cli, *common, f"+target.aws_secret_access_key={TYPED_SECRET}"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and not out.exists()
    ran = subprocess.run([*cli, *common], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    history = subprocess.run([*cli[:-1], "history", "--db", str(out / "history.sqlite"), "list"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert history.returncode == 0, history.stderr
    files = dict(_all_outputs(out))
    assert {"run.json", "records.jsonl", "report.html", "summary.json", "history.sqlite"} <= {p.name for p in files}
    secrets = [*FAKE.values(), *EMU_CREDS.values(), TYPED_SECRET, "AKIAIOSFODNN7EXAMPLE"]
    streams = {"refused stderr": refused.stderr, "refused stdout": refused.stdout, "run stdout": ran.stdout,
               "run stderr": ran.stderr, "history": history.stdout}
    for secret in secrets:
        for name, text in streams.items():
            assert secret not in text, f"{name} holds a secret"
        for path, data in files.items():
            assert secret.encode() not in data, f"{path} holds a secret"
