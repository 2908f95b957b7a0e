"""The built wheel works where users put it: a fresh venv, run from a directory that is not the checkout.

Speed: the new venv gets only the built wheel (`--no-deps`); its dependencies come from this project's own
.venv through one .pth line, which adds that site-packages as a plain path (its own .pth files, including the
editable install's finder, are not processed). So the test installs and imports the wheel's code and data, not
the checkout's, without downloading or copying hundreds of megabytes of dependencies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import setuptools

from evals.paths import REPO_ROOT

CARD = """\
# My account's model: a user card on the search path, read by the harness and the emulator alike.
name: my-model
display_name: My Model
provider: example
family: llama3
model_id: example.my-model-v1:0
in_region_on_demand: [us-east-1]
inference_profiles: []
apis: [invoke, converse]
streaming: true
service_tiers: [default]
context_window: 8192
max_output_tokens: 512
input_modalities: [text]
quotas: {requests_per_minute: 100, tokens_per_minute: 100000, tokens_per_day: 10000000}
pricing: {input_per_1k: 0.001, output_per_1k: 0.002}
"""


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it: the way `python -m build` does it, so files a checkout's own
    build/ folder keeps from older layouts cannot leak into the wheel."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-c", f"import setuptools.build_meta as b; b.build_sdist({str(out)!r})"],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=300)
    sdist = next(out.glob("bedrock_evals-*.tar.gz"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(sdist)], check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding only the wheel built from this checkout; returns its bin directory."""
    wheel = next(dist.glob("bedrock_evals-*.whl"))
    venv = tmp_path_factory.mktemp("install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (_site_packages(venv) / "bedrock-evals-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    return venv / "bin"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An unrelated directory with a user config folder holding one model card."""
    (tmp_path / "bedrock-evals" / "model").mkdir(parents=True)
    (tmp_path / "bedrock-evals" / "model" / "my-model.yaml").write_text(CARD)
    return tmp_path


def cli(bin_dir: Path, cwd: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AWS_PROFILE")}
    return subprocess.run([str(bin_dir / "bedrock-evals"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**clean, **(env or {})})


def test_the_wheel_not_the_checkout_is_what_runs(installed: Path, workdir: Path) -> None:
    where = subprocess.run([str(installed / "python"), "-c", "import evals.paths as p; print(p.CONF_DIR)"],
                           cwd=workdir, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(installed.parent)) and where.endswith("evals/_shipped/conf")
    version = cli(installed, workdir, "--version")
    assert version.returncode == 0 and version.stdout.strip() == "bedrock-evals 0.1.0"


def test_help_dry_run_and_a_small_benchmark_from_another_directory(installed: Path, workdir: Path) -> None:
    shown = cli(installed, workdir, "run", "--help")
    assert shown.returncode == 0, shown.stderr
    for text in ("Config groups", "*llama4-maverick", "my-model", "run.dry_run", "(found)"):
        assert text in shown.stdout
    dry = cli(installed, workdir, "run", "run.dry_run=true")
    assert dry.returncode == 0, dry.stderr
    assert "requests per cell" in dry.stdout and "estimated cost" in dry.stdout
    assert not (workdir / "reports").exists()
    run = cli(installed, workdir, "run", "target.latency_profile=zero", "regions=[us-east-1]", "apis=[converse]",
              "run.progress=false")
    assert run.returncode == 0, run.stderr
    run_dir = workdir / run.stdout.strip().splitlines()[-1]
    assert run_dir.parent == workdir / "reports" and (run_dir / "report.html").stat().st_size > 10_000
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all(r["status"] == "ok" for r in records)  # the shipped smoke suite, images too


def test_a_user_model_card_reaches_the_harness_and_the_emulator(installed: Path, workdir: Path) -> None:
    doctor = cli(installed, workdir, "doctor", "model=my-model", "apis=[converse_stream]")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "routing us-east-1" in doctor.stdout and "in-region on demand" in doctor.stdout
    refused = cli(installed, workdir, "doctor", "model=my-model", "regions=[us-west-2]")
    assert refused.returncode == 2 and "FAIL  model us-west-2" in refused.stdout
    run = cli(installed, workdir, "run", "model=my-model", "suite=reasoning", "suite.sample_size=3",
              "apis=[converse_stream]", "target.latency_profile=zero", "run.progress=false", "run.report=false")
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in
               (workdir / run.stdout.strip().splitlines()[-1] / "records.jsonl").read_text().splitlines()]
    assert {r["model_id"] for r in records} == {"example.my-model-v1:0"}
    assert all(r["status"] == "ok" for r in records)


def test_a_bad_aws_profile_is_one_line_and_exit_2(installed: Path, workdir: Path) -> None:
    for command in (["doctor", "target=aws"], ["run", "target=aws"]):
        done = cli(installed, workdir, *command, env={"AWS_PROFILE": "nope"})
        assert done.returncode == 2
        assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
        assert "AWS profile 'nope' does not exist" in done.stderr
    assert not (workdir / "reports").exists()


def test_the_package_list_names_every_package() -> None:
    """pyproject lists packages explicitly (mapped data folders cannot be discovered); none may be missing."""
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set(setuptools.find_packages(str(REPO_ROOT), include=["evals", "evals.*"]))
    assert found <= listed
    assert {p for p in listed - found} == {"evals._shipped.conf", "evals._shipped.suites", "evals._shipped.docs"}


def test_the_sdist_and_wheel_carry_the_tree_and_nothing_else(dist: Path) -> None:
    with tarfile.open(next(dist.glob("bedrock_evals-*.tar.gz"))) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    shipped = {str(p.relative_to(REPO_ROOT)) for folder in ("conf", "suites") for p in (REPO_ROOT / folder).rglob("*")
               if p.is_file()}
    assert shipped <= names
    assert "docs/statistics.md" in names and "pyproject.toml" in names
    assert any(n.startswith("evals/") and "templates/report.html.j2" in n for n in names)
    with zipfile.ZipFile(next(dist.glob("bedrock_evals-*.whl"))) as wheel:
        wheel_names = set(wheel.namelist())
    modules = {n for n in wheel_names if n.startswith("evals/") and n.endswith(".py")}
    assert modules == {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "evals").rglob("*.py")}
    assert {f"evals/_shipped/{name}" for name in shipped} <= wheel_names
