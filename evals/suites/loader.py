"""Resolve a suite spec (the Hydra `suite` node) into a `Suite`: definition file, overrides, items, templates,
seeded subsample, images checked against the model card. Every problem surfaces here, before any request.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import jinja2

from evals.cards import ModelCard
from evals.config_nodes import ParamsNode, SuiteNode, node_keys
from evals.errors import UserInputError
from evals.paths import SUITES_DIR
from evals.scorers import INSTRUCTION_CHECKS, scorer_names, validate_scorer_specs
from evals.suites import images as imagelib
from evals.suites import sources
from evals.suites.generators import GENERATORS
from evals.suites.items import Item
from evals.types import InferenceParams, Sample, ScorerSpec, Suite
from evals.yamlfile import read_yaml_mapping

SOURCES = ("jsonl", "generator", "hf")
# the keys are the structured config's (evals/config_nodes.py): a definition file takes the node's keys but the
# two that point at or replace a definition
SPEC_KEYS = node_keys(SuiteNode)
DEFINITION_KEYS = SPEC_KEYS - {"definition", "scorer"}
PARAM_KEYS = tuple(f.name for f in fields(ParamsNode))

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


def _read_yaml(path: Path, key: str) -> dict[str, Any]:
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.yaml")))
        raise UserInputError(f"{key}: no suite definition {path} (built-in: {known})")
    return read_yaml_mapping(path, "suite definition")


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides win; None means 'keep the definition's value'; mappings merge key by key."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_definition(spec: Mapping[str, Any]) -> tuple[dict[str, Any], str, Path]:
    """The merged definition, the origin to name in errors, and the directory relative data paths start from."""
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise UserInputError(f"suite.{unknown[0]}: unknown key (known: {', '.join(sorted(SPEC_KEYS))})")
    ref = spec.get("definition")
    if ref is None and spec.get("path") is not None and spec.get("source") in (None, "jsonl"):
        ref = "jsonl"
    if ref is None:
        if not spec.get("source"):
            raise UserInputError("suite: set suite.definition (a built-in name or a YAML file) or suite.path")
        inline = _merge({}, {k: v for k, v in spec.items() if k != "definition"})
        scorer = inline.pop("scorer", None)
        if scorer is not None:
            inline["scorers"] = [scorer if isinstance(scorer, Mapping) else {"name": str(scorer)}]
        return inline, "suite", Path.cwd()
    ref_path = Path(str(ref)).expanduser()
    path = ref_path if ref_path.suffix in (".yaml", ".yml") else SUITES_DIR / f"{ref}.yaml"
    definition = _read_yaml(path, "suite.definition")
    unknown = sorted(set(definition) - DEFINITION_KEYS)
    if unknown:
        raise UserInputError(f"{path}: {unknown[0]}: unknown key (known: {', '.join(sorted(DEFINITION_KEYS))})")
    over = {k: v for k, v in spec.items() if k != "definition"}
    if over.get("path") is not None:  # a path given on the command line is relative to the working directory
        over["path"] = str(Path(str(over["path"])).expanduser().resolve())
    scorer = over.pop("scorer", None)
    if scorer is not None:
        over["scorers"] = [scorer if isinstance(scorer, Mapping) else {"name": str(scorer)}]
    merged = _merge(definition, over)
    return merged, str(path), path.parent


def _params(raw: Any, origin: str, card: ModelCard | None) -> InferenceParams:
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(PARAM_KEYS))
    if unknown:
        raise UserInputError(f"{origin}: params.{unknown[0]}: unknown parameter (known: {', '.join(PARAM_KEYS)})")
    try:
        max_tokens = int(raw.get("max_tokens") or 512)
        temperature = None if raw.get("temperature") is None else float(raw["temperature"])
        top_p = None if raw.get("top_p") is None else float(raw["top_p"])
    except (TypeError, ValueError) as err:
        raise UserInputError(f"{origin}: params: {err}") from None
    stop = raw.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(str(s) for s in stop)
    if max_tokens < 1:
        raise UserInputError(f"{origin}: params.max_tokens: must be at least 1")
    if card is not None and max_tokens > card.max_output_tokens:
        raise UserInputError(f"{origin}: params.max_tokens: {max_tokens} is over {card.name}'s "
                             f"{card.max_output_tokens}")
    if temperature is not None and not 0.0 <= temperature <= 1.0:
        raise UserInputError(f"{origin}: params.temperature: must be between 0 and 1")
    if top_p is not None and not 0.0 <= top_p <= 1.0:
        raise UserInputError(f"{origin}: params.top_p: must be between 0 and 1")
    return InferenceParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop)


def _scorers(raw: Any, origin: str) -> tuple[ScorerSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise UserInputError(f"{origin}: scorers: must be a list of {{name, params}}")
    specs = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise UserInputError(f"{origin}: scorers[{i}]: needs a name")
        extra = sorted(set(entry) - {"name", "params"})
        if extra:
            raise UserInputError(f"{origin}: scorers[{i}].{extra[0]}: unknown key (use name, params)")
        specs.append(ScorerSpec(name=str(entry["name"]), params=dict(entry.get("params") or {})))
    validate_scorer_specs(specs, origin)
    return tuple(specs)


def _generate(definition: Mapping[str, Any], origin: str, seed: int) -> list[Item]:
    gen = dict(definition.get("generator") or {})
    name = gen.pop("name", None)
    if name not in GENERATORS:
        raise UserInputError(f"{origin}: generator.name: unknown generator {name!r} (known: {', '.join(GENERATORS)})")
    fn = GENERATORS[name]
    accepted = set(inspect.signature(fn).parameters)
    unknown = sorted(set(gen) - accepted)
    if unknown:
        raise UserInputError(f"{origin}: generator.{unknown[0]}: unknown parameter of {name} "
                             f"(takes: {', '.join(sorted(accepted - {'seed'}))})")
    gen_seed = gen.pop("seed", None)
    try:
        return fn(seed=int(seed if gen_seed is None else gen_seed), **gen)
    except (TypeError, ValueError) as err:
        raise UserInputError(f"{origin}: generator.{err}") from None


def _items(definition: Mapping[str, Any], origin: str, base_dir: Path, seed: int) -> tuple[list[Item], str]:
    source = definition.get("source")
    if source not in SOURCES:
        raise UserInputError(f"{origin}: source: must be one of {', '.join(SOURCES)} (got {source!r})")
    if source == "generator":
        return _generate(definition, origin, seed), origin
    if source == "jsonl":
        if not definition.get("path"):
            raise UserInputError(f"{origin}: path: a jsonl suite needs a data file (suite.path=FILE)")
        path = Path(str(definition["path"])).expanduser()
        path = path if path.is_absolute() else base_dir / path
        mapper = sources.Mapper(definition, str(path), path.parent)
        return sources.read_jsonl(path, mapper, f"{origin}: path"), str(path)
    dataset = definition.get("dataset")
    if not isinstance(dataset, Mapping):
        raise UserInputError(f"{origin}: dataset: an hf suite needs dataset.path, split and revision")
    dataset = dict(dataset)
    local = Path(str(dataset.get("path", ""))).expanduser()
    if dataset.get("path") and not local.is_absolute() and (base_dir / local).exists():
        dataset["path"] = str(base_dir / local)
    mapper = sources.Mapper(definition, origin, None)
    return sources.read_hf(dataset, mapper, f"{origin}: dataset"), origin


def _template(text: Any, origin: str, key: str) -> jinja2.Template | None:
    if text is None:
        return None
    try:
        return _ENV.from_string(str(text))
    except jinja2.TemplateSyntaxError as err:
        raise UserInputError(f"{origin}: {key}: template error on line {err.lineno}: {err.message}") from None


def _render(template: jinja2.Template, item: Item, where: str, key: str) -> str:
    try:
        return template.render(**item.fields)
    except jinja2.UndefinedError as err:
        raise UserInputError(f"{where}: item {item.id!r}: {key} template: {err.message}") from None
    except jinja2.TemplateError as err:
        raise UserInputError(f"{where}: item {item.id!r}: {key} template: {err}") from None


def _check_item_scorers(samples: tuple[Sample, ...], specs: tuple[ScorerSpec, ...], where: str) -> None:
    """Per-item scorer names and instruction checks must exist too, or scoring would fail after the run."""
    for spec in specs:
        for sample in samples:
            at = f"{where}: item {sample.id!r}"
            if spec.name == "per_item":
                name = str(sample.meta.get("scorer") or spec.params.get("default", "normalized_exact"))
                if name not in scorer_names() or name in ("per_item", "judge"):
                    raise UserInputError(f"{at}: meta.scorer: unknown scorer {name!r}")
                params = sample.meta.get("scorer_params") or {}
                if not isinstance(params, Mapping):
                    raise UserInputError(f"{at}: meta.scorer_params must be a mapping")
                validate_scorer_specs([ScorerSpec(name, dict(params))], f"{at}: meta")
            elif spec.name == "instructions" and "checks" not in spec.params:
                checks = sample.answer if isinstance(sample.answer, list) else None
                bad = [c for c in checks or () if not isinstance(c, Mapping) or c.get("type") not in INSTRUCTION_CHECKS]
                if not checks or bad:
                    raise UserInputError(f"{at}: answer must be a list of checks with type in {INSTRUCTION_CHECKS}")


def _subsample(items: list[Item], size: Any, seed: int, origin: str, explicit: bool) -> list[Item]:
    """Seeded subsample in original order. A definition's default size shrinks to fit (a smaller generator
    setting); a size asked for explicitly that cannot be met is an error."""
    if size in (None, 0):
        return items
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise UserInputError(f"{origin}: sample_size: must be an integer (got {size!r})") from None
    if size < 0:
        raise UserInputError(f"{origin}: sample_size: must be positive")
    if size > len(items) and not explicit:
        return items
    if size > len(items):
        raise UserInputError(f"{origin}: sample_size: {size} is more than the {len(items)} items available")
    keep = sorted(random.Random(f"subsample:{seed}").sample(range(len(items)), size))
    return [items[i] for i in keep]


def load_suite(spec: Mapping[str, Any], card: ModelCard | None = None) -> Suite:
    """Build the suite a spec names (see docs/suites.md for the keys), failing with a one-line UserInputError."""
    definition, origin, base_dir = resolve_definition(spec)
    name = str(definition.get("name") or Path(origin).stem)
    seed = definition.get("seed") or 0
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise UserInputError(f"{origin}: seed: must be an integer (got {seed!r})") from None
    params = _params(definition.get("params"), origin, card)
    scorers = _scorers(definition.get("scorers", [{"name": "normalized_exact"}]), origin)
    prompt = _template(definition.get("prompt", "{{ prompt }}"), origin, "prompt")
    system = _template(definition.get("system"), origin, "system")
    items, where = _items(definition, origin, base_dir, seed)
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise UserInputError(f"{where}: duplicate item id {item.id!r}")
        seen.add(item.id)
    items = _subsample(items, definition.get("sample_size"), seed, origin, spec.get("sample_size") is not None)

    samples = []
    for item in items:
        meta = dict(item.meta)
        item_max = meta.get("max_tokens")
        if item_max is not None:
            if not isinstance(item_max, int) or item_max < 1:
                raise UserInputError(f"{where}: item {item.id!r}: meta.max_tokens must be a positive integer")
            if card is not None and item_max > card.max_output_tokens:
                raise UserInputError(f"{where}: item {item.id!r}: meta.max_tokens {item_max} is over "
                                     f"{card.name}'s {card.max_output_tokens}")
        approx = meta.get("approx_tokens")
        if card is not None and isinstance(approx, int) and approx > card.context_window:
            raise UserInputError(f"{origin}: generator: item {item.id!r} is about {approx} tokens, over "
                                 f"{card.name}'s {card.context_window}-token context window")
        samples.append(Sample(
            id=item.id,
            prompt=_render(prompt, item, where, "prompt") if prompt else "",
            answer=item.answer,
            system=_render(system, item, where, "system") if system else None,
            images=item.images,
            cluster=item.cluster,
            meta=meta,
        ))
    out = tuple(samples)
    _check_item_scorers(out, scorers, where)
    if card is not None:
        imagelib.check_against_card(out, card, where)
    item_caps = [s.meta["max_tokens"] for s in out if "max_tokens" in s.meta]
    if item_caps and max(item_caps) > params.max_tokens:  # the suite's cap covers every per-item cap
        params = InferenceParams(max(item_caps), params.temperature, params.top_p, params.stop)
    return Suite(name=name, version=str(definition.get("version", "1")), source=str(definition.get("source")),
                 samples=out, params=params, scorers=scorers)


def oracle_text(sample: Sample) -> str | None:
    """A response that scores 1.0 on the sample's primary scorer: `meta["reference"]`, else the answer."""
    reference = sample.meta.get("reference")
    if reference is not None:
        return str(reference)
    if sample.answer is None:
        return None
    if isinstance(sample.answer, list | tuple):
        return str(sample.answer[0]) if sample.answer else None
    return str(sample.answer)
