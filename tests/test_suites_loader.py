"""Suite loading from JSONL: field mapping, templates, images, seeded subsampling, and one-line user errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from evals.cards import load_card
from evals.errors import UserInputError
from evals.suites import load_suite, oracle_text
from evals.types import Sample

MAVERICK = load_card("llama4-maverick")
TEXT_ONLY = load_card("llama3-3-70b")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    Image.new("RGB", (40, 30), "red").save(tmp_path / "img" / "red.png")
    rows = [
        {"id": f"q{i}", "prompt": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(20)
    ] + [{"id": "pic", "prompt": "Colour?", "answer": "red", "image": "img/red.png"}]
    return write_jsonl(tmp_path / "mine.jsonl", rows)


def test_generic_jsonl_with_image_relative_to_file(user_file: Path) -> None:
    suite = load_suite({"name": "jsonl", "definition": "jsonl", "path": str(user_file)}, MAVERICK)
    assert suite.name == "jsonl" and suite.source == "jsonl" and len(suite.samples) == 21
    assert suite.samples[0] == Sample(id="q0", prompt="What is 0 + 0?", answer="0", meta={})
    pic = suite.samples[-1]
    assert len(pic.images) == 1 and pic.images[0].format == "png" and (pic.images[0].width, pic.images[0].height) == (
        40, 30)
    assert pic.images[0].data == (user_file.parent / "img" / "red.png").read_bytes()
    assert [s.name for s in suite.scorers] == ["normalized_exact"]
    assert oracle_text(suite.samples[3]) == "6"


def test_path_alone_means_generic_jsonl(user_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(user_file.parent)
    suite = load_suite({"path": "mine.jsonl", "scorer": "contains"})
    assert len(suite.samples) == 21 and suite.scorers[0].name == "contains"


def test_seeded_subsample(user_file: Path) -> None:
    spec = {"definition": "jsonl", "path": str(user_file), "sample_size": 5}
    a = load_suite({**spec, "seed": 1})
    assert len(a.samples) == 5
    assert a.samples == load_suite({**spec, "seed": 1}).samples
    assert a.samples != load_suite({**spec, "seed": 2}).samples
    order = [s.id for s in load_suite({"definition": "jsonl", "path": str(user_file)}).samples]
    assert [s.id for s in a.samples] == sorted((s.id for s in a.samples), key=order.index)  # file order kept


def test_params_and_template_overrides(user_file: Path) -> None:
    suite = load_suite({
        "definition": "jsonl", "path": str(user_file),
        "params": {"max_tokens": 7, "temperature": 0.5, "top_p": None, "stop": ["###"]},
        "prompt": "Q: {{ prompt }} (id {{ id }})", "system": "Be brief about {{ id }}.",
    })
    assert suite.params.max_tokens == 7 and suite.params.temperature == 0.5 and suite.params.stop == ("###",)
    assert suite.params.top_p is None
    assert suite.samples[1].prompt == "Q: What is 1 + 1? (id q1)" and suite.samples[1].system == "Be brief about q1."


def test_field_mapping_cluster_and_meta(tmp_path: Path) -> None:
    rows = [{"qid": "a", "passage": "p1", "text": "<b>x</b>", "gold": "1", "meta": {"max_tokens": 9}},
            {"qid": "b", "passage": "p1", "text": "y", "gold": "2"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    definition = tmp_path / "custom.yaml"
    definition.write_text(
        "name: custom\nversion: '3'\nsource: jsonl\npath: d.jsonl\nfields: {id: qid, answer: gold}\n"
        "cluster: passage\nprompt: '{{ text }}'\nscorers: [{name: numeric, params: {abs_tol: 0.5}}]\n"
        "params: {max_tokens: 4}\n"
    )
    suite = load_suite({"definition": str(definition)})
    assert [s.id for s in suite.samples] == ["a", "b"] and suite.version == "3"
    assert suite.samples[0].prompt == "<b>x</b>"  # prompts are not HTML-escaped
    assert suite.samples[0].answer == "1" and suite.samples[0].cluster == "p1"
    assert suite.samples[0].meta == {"max_tokens": 9} and suite.params.max_tokens == 9
    assert data.exists()


@pytest.mark.parametrize(
    ("rows", "spec", "card", "message"),
    [
        (None, {"definition": "nope"}, None, r"suite.definition: no suite definition .*nope.yaml"),
        (None, {"definition": "jsonl"}, None, r"jsonl.yaml: path: a jsonl suite needs a data file"),
        (None, {"definition": "jsonl", "path": "missing.jsonl"}, None, r"file .*missing.jsonl not found"),
        (None, {"definition": "reasoning", "sampel_size": 3}, None, r"suite.sampel_size: unknown key"),
        ([{"id": "a", "prompt": "x"}], {"prompt": "{{ question }}"}, None,
         r"d.jsonl: item 'a': prompt template: 'question' is undefined"),
        ([{"id": "a", "prompt": "x"}], {"prompt": "{% for %}"}, None, r"jsonl.yaml: prompt: template error on line 1"),
        ([{"id": "a", "prompt": "x"}], {"scorer": "nope"}, None, r"jsonl.yaml: scorers\[0\]: unknown scorer 'nope'"),
        ([{"id": "a", "prompt": "x"}], {"scorer": {"name": "numeric", "params": {"tolerance": 1}}}, None,
         r"scorer 'numeric' has no parameter 'tolerance'"),
        ([{"id": "a", "prompt": "x"}], {"sample_size": 5}, None, r"sample_size: 5 is more than the 1 items"),
        ([{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}], {}, None, r"d.jsonl: duplicate item id 'a'"),
        ([{"id": "a", "prompt": "x", "image": "nope.png"}], {}, None, r"d.jsonl:1: image .*nope.png cannot be read"),
        ([{"id": "a", "prompt": "x", "image": "bad.png"}], {}, None, r"d.jsonl:1: image .*bad.png is unreadable"),
        ([{"id": "a", "prompt": "x", "image": "ok.png"}], {}, "text-only",
         r"d.jsonl: item 'a': has images but model llama3-3-70b takes text only"),
        ([{"id": "a", "prompt": "x", "image": "ok.png"}], {}, "tiny",
         r"d.jsonl: item 'a': .*ok.png is 64x48 px, over the 50 px limit"),
        ([{"id": "a", "prompt": "x", "image": ["ok.png"] * 6}], {}, None, r"item 'a': 6 images, model .* takes 5"),
        ([{"id": "a", "prompt": "x"}], {"params": {"max_tokens": 100000}}, None, r"params.max_tokens: 100000 is over"),
        ([{"id": "a", "prompt": "x"}], {"params": {"temprature": 0}}, None, r"params.temprature: unknown parameter"),
        ([{"id": "a", "prompt": "x", "meta": {"scorer": "fuzzy"}}], {"scorer": "per_item"}, None,
         r"d.jsonl: item 'a': meta.scorer: unknown scorer 'fuzzy'"),
        ([{"id": "a", "prompt": "x", "meta": {"scorer": "numeric", "scorer_params": {"tol": 1}}}],
         {"scorer": "per_item"}, None, r"item 'a': meta: scorers\[0\]: scorer 'numeric' has no parameter 'tol'"),
        ([{"id": "a", "prompt": "x", "answer": [{"type": "rhymes"}]}], {"scorer": "instructions"}, None,
         r"item 'a': answer must be a list of checks"),
    ],
)
def test_user_errors_are_one_line(
    tmp_path: Path, rows: list | None, spec: dict, card: str | None, message: str
) -> None:
    Image.new("RGB", (64, 48), "blue").save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    base: dict[str, Any] = {"definition": "jsonl"}
    if rows is not None:
        base["path"] = str(write_jsonl(tmp_path / "d.jsonl", rows))
    if "path" in spec:
        spec = {**spec, "path": str(tmp_path / spec["path"])}
    model = {None: MAVERICK, "text-only": TEXT_ONLY,
             "tiny": dataclasses.replace(MAVERICK, images=dataclasses.replace(MAVERICK.images, max_side_px=50))}[card]
    with pytest.raises(UserInputError, match=message) as err:
        load_suite({**base, **spec}, model)
    assert "\n" not in str(err.value)


def test_bad_field_mapping_and_bad_json(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "prompt": "x"}])
    definition = tmp_path / "s.yaml"
    definition.write_text("name: s\nsource: jsonl\npath: d.jsonl\nfields: {answer: gold}\n")
    with pytest.raises(UserInputError, match=r"d.jsonl: fields.answer: no field 'gold' \(fields: id, prompt\)"):
        load_suite({"definition": str(definition)})
    (tmp_path / "d.jsonl").write_text('{"id": "a"}\n{oops\n')
    with pytest.raises(UserInputError, match=r"d.jsonl:2: not valid JSON"):
        load_suite({"definition": "jsonl", "path": str(tmp_path / "d.jsonl")})


def test_unsupported_image_format_is_reencoded(tmp_path: Path) -> None:
    Image.new("RGB", (10, 10), "green").save(tmp_path / "g.bmp")
    write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "prompt": "x", "image": "g.bmp"}])
    img = load_suite({"definition": "jsonl", "path": str(tmp_path / "d.jsonl")}, MAVERICK).samples[0].images[0]
    assert img.format == "png" and img.data.startswith(b"\x89PNG") and img.pixels == 100


def test_definition_sample_size_shrinks_to_a_smaller_generator() -> None:
    assert len(load_suite({"definition": "reasoning", "generator": {"n": 30}}).samples) == 30
    assert len(load_suite({"definition": "reasoning"}).samples) == 100
    with pytest.raises(UserInputError, match=r"reasoning.yaml: sample_size: 40 is more than the 30 items"):
        load_suite({"definition": "reasoning", "generator": {"n": 30}, "sample_size": 40})


def test_generator_errors_name_the_key() -> None:
    with pytest.raises(UserInputError, match=r"reasoning.yaml: generator.kinds: unknown kind 'poetry'"):
        load_suite({"definition": "reasoning", "generator": {"kinds": ["poetry"]}})
    with pytest.raises(UserInputError, match=r"long-context.yaml: generator.widths: unknown parameter"):
        load_suite({"definition": "long-context", "generator": {"widths": [1]}})
    with pytest.raises(UserInputError, match=r"vision.yaml: generator.sizes"):
        load_suite({"definition": "vision", "generator": {"sizes": [10]}})
    with pytest.raises(UserInputError, match=r"vision.yaml: item .*over the 10 px limit"):
        tiny = dataclasses.replace(MAVERICK, images=dataclasses.replace(MAVERICK.images, max_side_px=10))
        load_suite({"definition": "vision", "generator": {"n": 2, "sizes": [64]}}, tiny)
