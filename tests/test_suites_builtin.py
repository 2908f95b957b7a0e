"""Built-in suites: every item has a machine-checkable answer, generation is seeded, conf nodes compose."""

from __future__ import annotations

import io
from collections import Counter
from functools import cache
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

from evals.cards import load_card
from evals.errors import UserInputError
from evals.oracle import ORACLE_WRONG_TEXT
from evals.paths import CONF_DIR, REPO_ROOT, SUITES_DIR
from evals.scorers import score_response
from evals.suites import builtin_suites, load_suite, oracle_text
from evals.suites.generators import GENERATORS
from evals.types import Suite

BUILTIN = ("smoke", "reasoning", "instructions", "knowledge", "vision", "long-context", "latency")
MAVERICK = load_card("llama4-maverick")
# Clearly wrong responses: each violates every item of its suite.
WRONG = {
    "instructions": "very really amazing basically literally " * 40,
    "latency": "",
}


def conf_node(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONF_DIR / "suite" / f"{name}.yaml").read_text())


@cache
def suite(name: str) -> Suite:
    """A built-in suite with default generator parameters and no subsampling (every item is checked)."""
    return load_suite({**conf_node(name), "sample_size": 0}, MAVERICK)


def test_builtin_list_matches_conf_group() -> None:
    assert set(builtin_suites()) == set(BUILTIN)
    assert {p.stem for p in (CONF_DIR / "suite").glob("*.yaml")} == {*BUILTIN, "jsonl", "hf"}


@pytest.mark.parametrize("name", BUILTIN)
def test_oracle_scores_one_and_wrong_scores_zero(name: str) -> None:
    loaded = suite(name)
    assert loaded.samples and loaded.scorers
    primary = next(iter(loaded.scorers)).name
    for sample in loaded.samples:
        text = oracle_text(sample)
        assert text is not None and len(text.encode()) <= 3000, sample.id
        scores = score_response(loaded.scorers, sample, text)
        assert scores[primary] == 1.0, (sample.id, text[:200])
        wrongs = {WRONG.get(name, "I am not sure, sorry."), ""}
        if name != "latency":  # the emulator's oracle engine sends this when it means to be wrong
            wrongs.add(ORACLE_WRONG_TEXT)
        for wrong in wrongs:
            assert score_response(loaded.scorers, sample, wrong)[primary] == 0.0, (sample.id, wrong[:40])


@pytest.mark.parametrize("name", ["reasoning", "instructions", "vision", "long-context", "latency"])
def test_generators_are_seeded(name: str) -> None:
    base = {**conf_node(name), "sample_size": 0}
    if name == "vision":
        base["generator"] = {**base["generator"], "n": 10, "sizes": [128]}
    a, b, c = (load_suite({**base, "seed": seed}) for seed in (1, 1, 2))
    assert a.samples == b.samples
    assert [s.prompt for s in a.samples] != [s.prompt for s in c.samples]


def test_generator_parameters_in_conf_nodes_exist() -> None:
    import inspect

    for name in BUILTIN:
        node = conf_node(name)
        definition = yaml.safe_load((SUITES_DIR / f"{name}.yaml").read_text())
        if "generator" not in node:
            assert definition["source"] != "generator"
            continue
        accepted = set(inspect.signature(GENERATORS[definition["generator"]["name"]]).parameters)
        assert set(node["generator"]) <= accepted, name
        assert set(definition["generator"]) - {"name"} <= accepted, name


def test_hydra_overrides_reach_the_loader() -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        reasoning = compose(overrides=["+suite=reasoning", "suite.sample_size=200", "suite.seed=3"])
        long_ctx = compose(overrides=["+suite=long-context", "suite.generator.lengths=[1000,8000]",
                                      "suite.generator.depths=[0.5]", "suite.params.max_tokens=16"])
        jsonl = compose(overrides=["+suite=jsonl", f"suite.path={SUITES_DIR / 'smoke.jsonl'}", "suite.scorer=contains"])
    r = load_suite(OmegaConf.to_container(reasoning.suite, resolve=True))
    assert len(r.samples) == 200 and r.name == "reasoning"
    assert r.samples != load_suite({**conf_node("reasoning"), "sample_size": 200}).samples
    lc = load_suite(OmegaConf.to_container(long_ctx.suite, resolve=True))
    assert [s.id for s in lc.samples] == ["len1000-depth050", "len8000-depth050"]
    assert lc.params.max_tokens == 16
    j = load_suite(OmegaConf.to_container(jsonl.suite, resolve=True))
    assert [sp.name for sp in j.scorers] == ["contains"] and len(j.samples) == 8


def test_smoke_has_text_and_images_in_three_formats() -> None:
    smoke = suite("smoke")
    assert 6 <= len(smoke.samples) <= 10
    images = [img for s in smoke.samples for img in s.images]
    assert {img.format for img in images} == {"png", "jpeg", "webp"}
    assert any(not s.images for s in smoke.samples)
    assert smoke.samples[0].system and smoke.params.temperature == 0.0


def test_knowledge_key_is_balanced_and_well_formed() -> None:
    know = suite("knowledge")
    assert len(know.samples) >= 100
    letters = Counter(s.answer for s in know.samples)
    assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1
    for s in know.samples:
        options = [line[3:] for line in s.prompt.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
        assert len(options) == 4 and len(set(options)) == 4, s.id
    assert len({s.prompt for s in know.samples}) == len(know.samples)


def test_vision_images_cover_formats_and_sizes_within_card_limits() -> None:
    vision = suite("vision")
    combos = {(s.images[0].format, s.images[0].width) for s in vision.samples}
    assert combos == {(f, w) for f in ("png", "jpeg", "webp") for w in (256, 512, 1024, 1536)}
    assert Counter(s.meta["kind"] for s in vision.samples) == {k: 12 for k in
                                                               ("bar_value", "bar_max", "count_shapes",
                                                                "read_text", "shape_color")}
    for s in vision.samples:
        img = s.images[0]
        assert len(img.data) <= MAVERICK.images.max_bytes and max(img.width, img.height) <= 8000
        with Image.open(io.BytesIO(img.data)) as decoded:
            assert decoded.format.lower() == img.format and decoded.size == (img.width, img.height)
    assert len({len(s.images[0].data) for s in vision.samples}) > 40  # bytes vary for latency plots


def test_long_context_lengths_depths_and_clusters() -> None:
    lc = suite("long-context")
    assert len(lc.samples) == 4 * 5
    for s in lc.samples:
        approx = len(s.prompt.split()) * 1.3
        assert abs(approx - s.meta["approx_tokens"]) / s.meta["approx_tokens"] < 0.05, s.id
        position = s.prompt.index(s.answer) / s.prompt.index("Question:")
        assert abs(position - s.meta["depth"]) < 0.02, s.id
        assert s.cluster == f"len{s.meta['approx_tokens']}"
    big = load_suite({**conf_node("long-context"), "generator": {"lengths": [256_000], "depths": [0.5]}}, MAVERICK)
    assert abs(len(big.samples[0].prompt.split()) * 1.3 - 256_000) < 2_000
    with pytest.raises(UserInputError, match=r"long-context.yaml: generator: item 'len2000000-depth050' is about"):
        load_suite({**conf_node("long-context"), "generator": {"lengths": [2_000_000], "depths": [0.5]}}, MAVERICK)


def test_latency_buckets_set_output_targets() -> None:
    lat = suite("latency")
    assert len(lat.samples) == 12
    assert lat.params.max_tokens >= max(s.meta["target_output_tokens"] for s in lat.samples)
    for s in lat.samples:
        assert s.meta["max_tokens"] == s.meta["target_output_tokens"] == s.meta["output_bucket"]
        approx = len(s.prompt.split()) * 1.3
        assert abs(approx - s.meta["input_bucket"]) / s.meta["input_bucket"] < 0.15, s.id
    bigger = load_suite({**conf_node("latency"), "generator": {"output_tokens": [2048]}, "params": {"max_tokens": 64}})
    assert bigger.params.max_tokens == 2048  # the suite cap grows to cover per-item caps


def test_instructions_every_family_present_and_reference_differs() -> None:
    ins = suite("instructions")
    assert {s.meta["family"] for s in ins.samples} == {"bullets", "short", "long", "json", "upper", "paragraphs"}
    assert all(isinstance(s.answer, list) and s.answer for s in ins.samples)
    assert [sp.name for sp in ins.scorers] == ["instructions", "instructions"]


_DIGEST = """
import hashlib
from evals.suites import load_suite
specs = [
    {"definition": "reasoning", "sample_size": 0},
    {"definition": "instructions"},
    {"definition": "long-context", "generator": {"lengths": [1000]}},
    {"definition": "latency", "generator": {"input_tokens": [128]}},
    {"definition": "vision", "generator": {"n": 10, "sizes": [128]}},
]
h = hashlib.sha256()
for spec in specs:
    for s in load_suite(spec).samples:
        h.update(repr((s.id, s.prompt, s.answer, s.meta, s.cluster)).encode())
        for img in s.images:
            h.update(img.data)
print(h.hexdigest())
"""


def test_generation_is_identical_across_processes() -> None:
    """Seeds must not depend on hash randomisation or set order: another process yields the same bytes."""
    import os
    import subprocess
    import sys

    def run(hashseed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        done = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True,
                              cwd=REPO_ROOT,
                              timeout=120)
        return done.stdout.strip()

    first = run("1")
    assert len(first) == 64 and first == run("987")
