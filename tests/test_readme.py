"""Every command in README.md works as written.

`run` lines are run as dry runs (everything a run checks, nothing sent), `--help`, `--cfg job` and the local
`doctor` as they are. Commands that need what a test cannot conjure from the README alone (an earlier run's
directory, a dataset on /data, an AWS account, a server that runs until stopped) are named in COVERED_ELSEWHERE
with the test that exercises them; templates (`<run_id>`, `...`) are left out; any other README command that
fails, fails this test.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from evals.cli import main
from evals.paths import REPO_ROOT

COVERED_ELSEWHERE = {
    "run run.resume=reports/<run_id>": "tests/test_run_e2e.py (resume after SIGKILL)",
    "run suite=hf suite.dataset.path=/data/my_dataset": "tests/test_suites_hf.py (a local dataset directory)",
    "run target.endpoints_file=": "tests/test_run_e2e.py (runs against an emulator started separately)",
    "run -m hydra/launcher=ray": "tests/test_sweep_ray.py (a local Ray; `...` stands for the sweep's overrides)",
    "doctor target=aws": "tests/test_doctor_aws.py (target=aws through boto3's endpoint variables)",
    "report ": "tests/test_report_run.py",
    "compare ": "tests/test_compare_gate.py",
    "gate ": "tests/test_compare_gate.py",
    "history ": "tests/test_history.py",
    "emulator ": "tests/test_emulator_cli.py",
}


def readme_commands() -> list[str]:
    """`bedrock-evals ...` lines of the README's shell blocks, comments stripped, and what `make run` runs."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            if line.startswith(".venv/bin/bedrock-evals "):
                out.append(line.split("  #", 1)[0].strip().removeprefix(".venv/bin/bedrock-evals "))
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    out += re.findall(r"^\t\$\(BIN\)/bedrock-evals (run .*)$", makefile, re.MULTILINE)
    return out


def _elsewhere(command: str) -> bool:
    """Covered by another test, or a template (`<run_id>`, `...`) that is not meant to run as written."""
    return any(command.startswith(prefix) for prefix in COVERED_ELSEWHERE) or "<" in command or "..." in command


def test_readme_has_the_commands_this_test_expects() -> None:
    commands = readme_commands()
    assert len(commands) > 15
    assert "run model=llama3-3-70b suite=reasoning apis=[converse_stream,invoke_stream]" in commands
    for prefix in COVERED_ELSEWHERE:
        assert any(c.startswith(prefix) for c in commands), f"stale COVERED_ELSEWHERE entry {prefix!r}"


@pytest.mark.parametrize("command", [c for c in readme_commands() if not _elsewhere(c)])
def test_readme_command_works_as_written(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_tasks.jsonl").write_text('{"id": "a", "prompt": "Say yes", "answer": "yes"}\n')
    argv = shlex.split(command)
    if argv[0] == "run" and not {"--help", "--cfg"} & set(argv):
        argv.append("run.dry_run=true")
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip()
    assert not (tmp_path / "reports").exists()  # dry runs, help and doctor write nothing
