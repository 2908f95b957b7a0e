"""The model card and suite nodes are structured configs, and every entry point checks a config the same way.

Card and suite nodes: an unknown key, a wrong type or a missing required value is one line naming the key, exit 2,
nothing written, like any other config key. Run, its dry run, a sweep and doctor share one set of checks
(evals/config_checks.py), so the same bad config gets the same line from each.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from evals.cards import card_from_mapping, load_card
from evals.cli import main
from evals.config import compose_config
from evals.config_checks import check_config
from evals.config_nodes import ModelCardNode, ParamsNode, SuiteNode, node_keys
from evals.paths import MODEL_CARD_DIR, SUITES_DIR
from evals.suites.loader import DEFINITION_KEYS, PARAM_KEYS, SPEC_KEYS

CONF = MODEL_CARD_DIR.parent
SUITE_OPTIONS = sorted(p.stem for p in (CONF / "suite").glob("*.yaml"))
CARD_OPTIONS = sorted(p.stem for p in MODEL_CARD_DIR.glob("*.yaml"))


def one_line_refusal(argv: list[str], out_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main([*argv, f"run.out_dir={out_dir}"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert not out_dir.exists()
    return err.strip()


@pytest.mark.parametrize("card", CARD_OPTIONS)
def test_every_shipped_card_composes_into_the_node_and_builds_the_same_card(card: str) -> None:
    cfg = compose_config([f"model={card}", "regions=[us-east-1]"])
    assert OmegaConf.get_type(cfg.model) is ModelCardNode
    composed = card_from_mapping(OmegaConf.to_container(cfg.model, resolve=True))  # type: ignore[arg-type]
    assert composed == load_card(card)  # the node keeps every fact the file gives, nothing added or lost


@pytest.mark.parametrize("suite", SUITE_OPTIONS)
def test_every_shipped_suite_composes_into_the_node(suite: str) -> None:
    cfg = compose_config([f"suite={suite}"])
    assert OmegaConf.get_type(cfg.suite) is SuiteNode
    assert set(cfg.suite) == SPEC_KEYS


def test_the_loader_reads_its_keys_from_the_node() -> None:
    assert node_keys(SuiteNode) == SPEC_KEYS
    assert SPEC_KEYS - {"definition", "scorer"} == DEFINITION_KEYS
    assert tuple(f.name for f in dataclasses.fields(ParamsNode)) == PARAM_KEYS
    for path in SUITES_DIR.glob("*.yaml"):  # every shipped definition stays within the node's keys
        assert set(yaml.safe_load(path.read_text())) <= DEFINITION_KEYS, path


@pytest.mark.parametrize(("override", "needle"), [
    ("model.context_window=huge", "config: model.context_window: Value 'huge'"),
    ("model.streaming=maybe", "config: model.streaming: Value 'maybe'"),
    ("model.pricing.input_per_1k=cheap", "config: model.pricing.input_per_1k: Value 'cheap'"),
    ("model.quotas.requests_per_minute=lots", "config: model.quotas.requests_per_minute: Value 'lots'"),
    ("suite.sample_size=some", "config: suite.sample_size: Value 'some'"),
    ("suite.params.temperature=hot", "config: suite.params.temperature: Value 'hot'"),
    ("suite.params.max_tokenz=5", "config: suite.params.max_tokenz"),
    ("suite.dataset.revision=abc", "config: suite.dataset.revision: not a config key here: suite.dataset is null"),
    ("suite.dataset={path:x,split:test}", "config: suite.dataset: is null in this config, so it takes no keys"),
    ("+suite.colour=red", "config: suite.colour: not a config key"),
])
def test_a_bad_card_or_suite_value_is_one_line_naming_the_key(
    override: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_refusal(["run", override], tmp_path / "out", capsys)
    assert line.startswith(f"error: {needle}"), line


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """./bedrock-evals/ with model/ and suite/ folders; the working directory for the test."""
    root = tmp_path / "bedrock-evals"
    (root / "model").mkdir(parents=True)
    (root / "suite").mkdir()
    monkeypatch.chdir(tmp_path)
    return root


def _user_card(root: Path, **changes: object) -> None:
    card = yaml.safe_load((MODEL_CARD_DIR / "llama4-maverick.yaml").read_text())
    card.update(name="mine", **changes)
    for key in [k for k, v in changes.items() if v is None]:
        del card[key]
    (root / "model" / "mine.yaml").write_text(yaml.safe_dump(card))


@pytest.mark.parametrize(("changes", "needle"), [
    ({"colour": "red"}, "config: model.colour: Key 'colour' not in 'ModelCardNode'"),
    ({"max_output_tokens": "plenty"}, "config: model.max_output_tokens: Value 'plenty'"),
    ({"images": {"formats": ["png"], "max_dpi": 300}}, "config: model.images.max_dpi: Key 'max_dpi' not in"),
    ({"family": None}, "model.family: missing a value"),
])
def test_a_users_card_file_is_checked_by_the_same_node(
    user_folder: Path, changes: dict[str, object], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _user_card(user_folder, **changes)
    line = one_line_refusal(["run", "model=mine", "run.dry_run=true"], tmp_path / "out", capsys)
    assert line.startswith(f"error: {needle}"), line


def test_a_users_suite_file_with_an_unknown_key_is_one_line(user_folder: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (user_folder / "suite" / "mine.yaml").write_text("name: mine\nsource: jsonl\npath: x.jsonl\nscorrer: contains\n")
    line = one_line_refusal(["run", "suite=mine", "run.dry_run=true"], tmp_path / "out", capsys)
    assert line.startswith("error: config: suite.scorrer: Key 'scorrer' not in 'SuiteNode'"), line


@pytest.mark.parametrize(("changes", "needle"), [
    ({"colour": "red"}, "colour: Key 'colour' not in 'ModelCardNode'"),
    ({"context_window": "big"}, "context_window: Value 'big'"),
    ({"quotas": {"requests_per_minute": 10}}, "quotas.tokens_per_day: missing a value"),
])
def test_the_emulator_checks_a_card_file_against_the_same_node(
    changes: dict[str, object], needle: str, tmp_path: Path
) -> None:
    card = yaml.safe_load((MODEL_CARD_DIR / "llama4-maverick.yaml").read_text())
    card.update(name="mine", **changes)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(card))
    done = subprocess.run([sys.executable, "-m", "evals.cli", "emulator", "--card", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {path}: {needle}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# the same bad config, refused with the same line by a run, its dry run, a sweep and doctor
SHARED_REFUSALS = [
    (["load.concurrency=0"], "load.concurrency: must be >= 1, got 0"),
    (["run.max_error_rate=2"], "run.max_error_rate: must be a share in [0, 1], got 2"),
    (["regions=[us-east-1,us-east-1]"], "regions: 'us-east-1' is listed twice"),
    (["run.send_refused=true"], "run.send_refused: only on target=aws"),
    (["transport.retry_mode=eager"], "transport.retry_mode='eager': use one of standard, adaptive, legacy"),
    (["target.auth=bogus"], "target.auth='bogus': use one of sigv4, bearer, auto"),
    (["load=sweep", "load.levels=[]"], "load.levels: a sweep needs at least one level"),
    (["load=sweep", "load.levels=[2]", "load.sweep_of=depth"], "load.sweep_of: must be concurrency or rate"),
    (["regions=[eu-north-9]"], "regions: "),
]


@pytest.mark.parametrize(("overrides", "expected"), SHARED_REFUSALS)
@pytest.mark.parametrize("entry", ["run", "dry run", "sweep", "doctor"])
def test_every_entry_point_refuses_a_bad_config_with_the_same_line(
    entry: str, overrides: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = {"run": ["run"], "dry run": ["run", "run.dry_run=true"], "sweep": ["run", "-m"],
            "doctor": ["doctor"]}[entry]
    line = one_line_refusal([*argv, *overrides], tmp_path / "out", capsys)
    assert line.startswith(f"error: {expected}"), line


def test_doctor_leaves_what_the_card_refuses_to_its_own_checks() -> None:
    """A run refuses a streaming API on a card that does not stream; doctor's config check lets it through
    (doctor reports it as a failing check of its own)."""
    cfg = compose_config(["apis=[converse_stream]", "regions=[us-east-1]"])
    with pytest.raises(Exception, match="converse_stream"):
        check_config(cfg)
    checked = check_config(cfg, refuse_cells=False)
    assert checked.apis == ("converse_stream",) and checked.regions == ("us-east-1",)


def test_a_suite_images_value_that_is_neither_a_name_nor_a_mapping_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_refusal(["run", "run.dry_run=true", "suite.images=5"], tmp_path / "out", capsys)
    assert line.endswith("smoke.jsonl: images: must be the image field's name or {field: NAME}"), line
