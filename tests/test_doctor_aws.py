"""`doctor` and the run's preflight on target=aws, offline: the standard credential chain and boto3's
service-specific endpoint variables (AWS_ENDPOINT_URL_BEDROCK, ..._BEDROCK_RUNTIME) point real-AWS code paths
at the emulator's us-east-1 listener, so nothing is stubbed and nothing leaves the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evals.emulator import Emulator
from evals.paths import MODEL_CARD_DIR

US_EAST_1 = ["target=aws", "regions=[us-east-1]"]


@pytest.fixture
def aws_env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    """Environment keys of the emulator and its us-east-1 listener as the AWS endpoints; no profile files."""
    url = emulator.endpoints["regions"]["us-east-1"]["http"]
    creds = emulator.endpoints["credentials"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
    return {**env, "AWS_ACCESS_KEY_ID": creds["access_key_id"], "AWS_SECRET_ACCESS_KEY": creds["secret_access_key"],
            "AWS_ENDPOINT_URL_BEDROCK": url, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
            "AWS_ENDPOINT_URL_SERVICE_QUOTAS": url, "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evals.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_doctor_on_aws_names_the_credential_source_never_the_secret(aws_env: dict[str, str], tmp_path: Path) -> None:
    done = cli(aws_env, tmp_path, "doctor", *US_EAST_1)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["ok", "credentials", "environment", "keys", "(AWS_ACCESS_KEY_ID)", "(SigV4)"]
    assert [line.split()[:2] for line in lines[1:4]] == [["ok", "model"], ["ok", "access"], ["ok", "routing"]]
    assert lines[-2].startswith("WARN  quotas us-east-1       cannot read Service Quotas")  # not emulated
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    assert aws_env["AWS_ACCESS_KEY_ID"] not in done.stdout + done.stderr


def test_preflight_stops_a_run_the_service_would_refuse(aws_env: dict[str, str], tmp_path: Path) -> None:
    """A user card claims streaming for Maverick; GetFoundationModel says otherwise: exit 2 before any request."""
    card = yaml.safe_load((MODEL_CARD_DIR / "llama4-maverick.yaml").read_text())
    card.update(name="my-maverick", streaming=True)
    (tmp_path / "bedrock-evals" / "model").mkdir(parents=True)
    (tmp_path / "bedrock-evals" / "model" / "my-maverick.yaml").write_text(yaml.safe_dump(card))
    args = [*US_EAST_1, "model=my-maverick", "apis=[converse_stream]", "suite=reasoning", "suite.sample_size=2",
            "run.progress=false", "run.report=false", "run.history=false"]
    done = cli(aws_env, tmp_path, "run", *args)
    assert done.returncode == 2
    assert "FAIL  streaming us-east-1" in done.stderr and "responseStreamingSupported is false" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: preflight: 1 check(s) failed")
    assert not (tmp_path / "reports").exists()
    sent = cli(aws_env, tmp_path, "run", *args, "run.preflight=false")  # the service's refusal is then recorded
    assert (tmp_path / "reports").is_dir() and "ValidationException" in (
        next((tmp_path / "reports").glob("*/records.jsonl")).read_text()), sent.stderr


def test_a_run_on_aws_passes_its_preflight_and_sends(aws_env: dict[str, str], tmp_path: Path) -> None:
    done = cli(aws_env, tmp_path, "run", *US_EAST_1, "apis=[converse]", "run.progress=false", "run.report=false",
               "run.history=false")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / done.stdout.strip().splitlines()[-1] / "records.jsonl").is_file()


@pytest.mark.parametrize("change, expected", [
    ({"AWS_PROFILE": "nope"}, "credentials: AWS profile 'nope' does not exist"),
    ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "credentials: none found"),
    ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "credentials: refused by Bedrock in us-east-1"),
    ({"AWS_ENDPOINT_URL_BEDROCK": "http://127.0.0.1:9"}, "network: cannot reach http://127.0.0.1:9/"),
    ({"AWS_BEARER_TOKEN_BEDROCK": None}, "credentials: target.auth=bearer but AWS_BEARER_TOKEN_BEDROCK"),
])
def test_what_stops_everything_is_one_line_and_exit_2(aws_env: dict[str, str], tmp_path: Path,
                                                      change: dict[str, str | None], expected: str) -> None:
    """doctor, and a run's preflight for the two a run meets first (the same code: evals/run/preflight.py)."""
    env = {k: v for k, v in {**aws_env, **change}.items() if v is not None}
    extra = ["target.auth=bearer"] if "AWS_BEARER_TOKEN_BEDROCK" in change else []
    commands = ["doctor", "run"] if "AWS_PROFILE" in change or "AWS_ENDPOINT_URL_BEDROCK" in change else ["doctor"]
    for command in commands:
        done = cli(env, tmp_path, command, *US_EAST_1, *extra)
        assert done.returncode == 2
        assert done.stdout == "" and done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert not (tmp_path / "reports").exists()
