"""The rules file (conf/gate/default.yaml or --rules FILE): the one source of margins, alpha and families.

The file's shape is a structured config (`RulesConfig`, OmegaConf): unknown keys, wrong types and missing
margins are refused by the schema, each as one line naming the file and the key. What a schema cannot say
(ranges, metric names, choices) is checked once in `_resolve`. The gate checks every rule; compare, the report's
comparisons and the terminal headline take each metric's margin from the same file (`questions`), so every
command judges a metric against the same indifference zone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evals.errors import UserInputError
from evals.paths import CONF_DIR
from evals.results.metrics import METRICS, Kind, Metric
from evals.results.verdicts import CheckSpec
from evals.stats import Direction, MarginKind

DEFAULT_RULES = CONF_DIR / "gate" / "default.yaml"
POLICIES = ("inconclusive", "pass", "fail")
# a metric the rules file has no rule for is judged against this margin (the defaults of conf/gate/default.yaml)
FALLBACK_MARGINS = {Kind.CONTINUOUS: 0.10, Kind.RATE: 0.02, Kind.SCORE: 0.03}


@dataclass
class RuleConfig:
    """One entry of `rules:` as written in the file (None: inherit the metric's or the file's default)."""

    metric: str = MISSING
    margin: float = MISSING
    name: str | None = None
    margin_kind: str | None = None
    direction: str | None = None
    alpha: float | None = None
    suites: list[str] | None = None


@dataclass
class RulesConfig:
    """The whole rules file as written."""

    alpha: float | None = None  # default 0.05; or give `confidence` (= 1 - alpha)
    confidence: float | None = None
    inconclusive: str = "inconclusive"
    min_runs: int = 3
    batches: int = 10
    rules: list[RuleConfig] = field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    """One rule, resolved: a metric of the registry, its margin (the indifference zone) and its alpha."""

    name: str
    metric: Metric
    margin: float
    margin_kind: MarginKind
    direction: Direction
    alpha: float
    suites: tuple[str, ...] | None = None

    def spec(self) -> CheckSpec:
        return CheckSpec(self.name, self.metric.name, self.margin, self.margin_kind, self.direction, self.alpha,
                         self.suites)


@dataclass(frozen=True)
class Rules:
    """The rules file, resolved: family alpha, inconclusive policy, runs per arm for run-level analysis,
    batches over send time for within-run uncertainty, and the rules."""

    path: Path
    alpha: float
    inconclusive: str
    min_runs: int
    batches: int
    rules: tuple[Rule, ...]


def _schema_error(path: Path, err: OmegaConfBaseException, prefix: str) -> UserInputError:
    key = prefix + str(getattr(err, "full_key", "") or "")
    msg = str(err).splitlines()[0] if str(err) else type(err).__name__
    if msg.startswith("Key '") and "not in" in msg:
        msg = "unknown key"
    elif "Missing mandatory value" in msg:
        msg = "missing (the smallest change worth failing a build for)" if key.endswith("margin") else "missing"
    elif "could not be converted" in msg or "Invalid value assigned" in msg:
        msg = f"wrong type ({msg})"
    return UserInputError(f"{path}: {key}: {msg}" if key else f"{path}: {msg}")


def _read(path: Path) -> RulesConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserInputError(f"{path}: cannot read rules file: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: cannot read rules file: not UTF-8 text") from None
    except yaml.YAMLError as err:
        raise UserInputError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a rules file must be a mapping with a 'rules' list")
    raw_rules = data.pop("rules", None)
    config = _structured(path, RulesConfig, data, "")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise UserInputError(f"{path}: rules: must be a non-empty list of rules")
    for i, item in enumerate(raw_rules):
        if not isinstance(item, dict):
            raise UserInputError(f"{path}: rules[{i}]: must be a mapping with at least 'metric' and 'margin'")
        config.rules.append(_structured(path, RuleConfig, item, f"rules[{i}]."))
    return config


def _structured(path: Path, schema: type[Any], data: dict[str, Any], prefix: str) -> Any:
    """`data` checked against the dataclass `schema` by OmegaConf (types, unknown keys, missing values)."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), data)
        OmegaConf.to_container(merged, throw_on_missing=True)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise _schema_error(path, err, prefix) from None


def _in_range(value: float, where: str, low: float, high: float = math.inf) -> float:
    if not low <= value <= high:
        rng = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise UserInputError(f"{where}: must be a number {rng}, got {value!r}")
    return float(value)


def _choice(value: Any, where: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise UserInputError(f"{where}: must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _rule(item: RuleConfig, where: str, alpha: float) -> Rule:
    metric = METRICS[_choice(item.metric, f"{where}.metric", tuple(METRICS))]
    margin = _in_range(item.margin, f"{where}.margin", 0.0)
    kind = MarginKind(_choice(item.margin_kind or metric.margin_kind.value, f"{where}.margin_kind",
                              [k.value for k in MarginKind]))
    if kind is MarginKind.RELATIVE and margin >= 1 and metric.direction is Direction.HIGHER_IS_BETTER:
        raise UserInputError(f"{where}.margin: a relative margin for a higher-is-better metric must be < 1")
    direction = Direction(_choice(item.direction or metric.direction.value, f"{where}.direction",
                                  [d.value for d in Direction]))
    name = metric.name if item.name is None else item.name
    if not name:
        raise UserInputError(f"{where}.name: must be a non-empty string")
    rule_alpha = _in_range(item.alpha if item.alpha is not None else alpha, f"{where}.alpha", 1e-6, 0.5)
    suites = tuple(item.suites) if item.suites is not None else None
    return Rule(name, metric, margin, kind, direction, rule_alpha, suites)


def load_rules(path: Path | str | None = None) -> Rules:
    """Read and check a rules file; every problem is one line naming the file and the key."""
    path = Path(path) if path is not None else DEFAULT_RULES
    config = _read(path)
    if config.alpha is not None and config.confidence is not None:
        raise UserInputError(f"{path}: confidence: give alpha or confidence (= 1 - alpha), not both")
    if config.confidence is not None:
        alpha = round(1 - _in_range(config.confidence, f"{path}: confidence", 0.5, 1 - 1e-6), 12)
    else:
        alpha = _in_range(0.05 if config.alpha is None else config.alpha, f"{path}: alpha", 1e-6, 0.5)
    policy = _choice(config.inconclusive, f"{path}: inconclusive", POLICIES)
    if config.min_runs < 2:
        raise UserInputError(f"{path}: min_runs: must be an integer >= 2, got {config.min_runs}")
    if not 2 <= config.batches <= 50:
        raise UserInputError(f"{path}: batches: must be an integer in [2, 50], got {config.batches}")
    rules = [_rule(item, f"{path}: rules[{i}]", alpha) for i, item in enumerate(config.rules)]
    names = [r.name for r in rules]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UserInputError(f"{path}: rules: two rules are named {dup!r}; give one a 'name'")
    return Rules(path, alpha, policy, config.min_runs, config.batches, tuple(rules))


def questions(rules: Rules, metrics: Iterable[Metric]) -> list[CheckSpec]:
    """One check per metric for compare, the report and the terminal: the rules file's rule for the metric
    (its first, without a suite filter), else the metric's fallback margin at the file's alpha."""
    out = []
    for metric in metrics:
        rule = next((r for r in rules.rules if r.metric.name == metric.name and r.suites is None), None)
        if rule is not None:
            out.append(CheckSpec(metric.name, metric.name, rule.margin, rule.margin_kind, rule.direction,
                                 rule.alpha))
            continue
        margin = FALLBACK_MARGINS[metric.kind]
        if metric.name == "latency":  # the geometric mean shares the median's margin
            margin = next((r.margin for r in rules.rules if r.metric.name == "latency_p50"), margin)
        out.append(CheckSpec(metric.name, metric.name, margin, metric.margin_kind, metric.direction, rules.alpha))
    return out
