"""Hugging Face source: a dataset written in the hub's file layout to a temp dir, read by `load_dataset`, offline."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from evals.cards import load_card
from evals.errors import UserInputError
from evals.suites import load_suite

MAVERICK = load_card("llama4-maverick")
README = """---
configs:
- config_name: default
  data_files:
  - split: test
    path: data/test-*
---
# tiny multiple-choice set with images
"""


def _png(colour: str, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    features = datasets.Features({
        "qid": datasets.Value("string"),
        "question": datasets.Value("string"),
        "choices": datasets.Sequence(datasets.Value("string")),
        "label": datasets.Value("int64"),
        "doc": datasets.Value("string"),
        "picture": datasets.Image(),
    })
    rows = {
        "qid": ["r0", "r1", "r2"],
        "question": ["Which colour?", "Which colour now?", "And this one?"],
        "choices": [["red", "blue", "green", "black"]] * 3,
        "label": [0, 1, 2],
        "doc": ["d1", "d1", "d2"],
        "picture": [{"bytes": _png(c, (30 + i, 20)), "path": None} for i, c in enumerate(["red", "blue", "green"])],
    }
    root = tmp_path / "tiny-mc"
    (root / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(root / "data" / "test-00000-of-00001.parquet"))
    (root / "README.md").write_text(README)
    return root


def spec(root: Path, tmp_path: Path, **extra: object) -> dict:
    return {
        "name": "tiny-mc",
        "source": "hf",
        "dataset": {"path": str(root), "split": "test", "cache_dir": str(tmp_path / "cache")},
        "fields": {"id": "qid", "answer": "label"},
        "answer_letters": True,
        "images": {"field": "picture"},
        "cluster": "doc",
        "prompt": "{{ question }}\n{% for c in choices %}{{ 'ABCD'[loop.index0] }}. {{ c }}\n{% endfor %}",
        "scorers": [{"name": "choice"}],
        "params": {"max_tokens": 8, "temperature": None},
        **extra,
    }


def test_hf_dataset_with_image_column(hub_dir: Path, tmp_path: Path) -> None:
    suite = load_suite(spec(hub_dir, tmp_path), MAVERICK)
    assert suite.source == "hf" and suite.name == "tiny-mc"
    assert [s.id for s in suite.samples] == ["r0", "r1", "r2"]
    assert [s.answer for s in suite.samples] == ["A", "B", "C"]
    assert [s.cluster for s in suite.samples] == ["d1", "d1", "d2"]
    first = suite.samples[0]
    assert first.prompt.startswith("Which colour?\nA. red\nB. blue")
    (image,) = first.images
    assert image.format == "png" and (image.width, image.height) == (30, 20)
    assert image.data == _png("red", (30, 20))
    assert suite.samples[2].images[0].width == 32
    assert suite.params.max_tokens == 8


def test_hf_errors(hub_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"fields.answer: no field 'gold'"):
        load_suite({**spec(hub_dir, tmp_path), "fields": {"id": "qid", "answer": "gold"}})
    with pytest.raises(UserInputError, match=r"cannot load dataset .* split 'validation'"):
        load_suite(spec(hub_dir, tmp_path, dataset={"path": str(hub_dir), "split": "validation",
                                                    "cache_dir": str(tmp_path / "cache")}))
    with pytest.raises(UserInputError, match=r"dataset.revision: pin a revision .* 'someorg/someset'"):
        load_suite(spec(hub_dir, tmp_path, dataset={"path": "someorg/someset", "split": "test"}))
    with pytest.raises(UserInputError, match=r"has images but model llama3-3-70b takes text only"):
        load_suite(spec(hub_dir, tmp_path), load_card("llama3-3-70b"))


def test_hf_conf_node_with_overrides(hub_dir: Path, tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from evals.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(overrides=[
            "+suite=hf", f"suite.dataset.path={hub_dir}", f"suite.dataset.cache_dir={tmp_path / 'cache'}",
            "suite.fields.id=qid", "suite.fields.answer=label", "suite.answer_letters=true",
            "suite.images.field=picture", "suite.prompt='{{ question }}'", "suite.scorer=choice",
            "suite.sample_size=2", "suite.seed=1",
        ])
    suite = load_suite(OmegaConf.to_container(cfg.suite, resolve=True), MAVERICK)
    assert len(suite.samples) == 2 and suite.scorers[0].name == "choice"
    assert all(s.images and s.prompt.endswith("?") for s in suite.samples)
    assert suite.params.max_tokens == 512
