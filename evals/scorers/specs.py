"""A suite's scorer specs checked before any request is sent, and one response scored with them.

Imports every scorer module, so each scorer is registered by the time a spec is checked or a response scored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from evals.errors import UserInputError
from evals.scorers import answers as _answers  # noqa: F401  (registers the answer scorers)
from evals.scorers.instructions import INSTRUCTION_CHECKS, check_instruction
from evals.scorers.registry import JUDGE, accepted_params, get_scorer, lookup, scorer_names
from evals.types import Sample, ScorerSpec


def validate_scorer_specs(specs: Sequence[ScorerSpec], origin: str) -> None:
    """Fail before any request is sent when a suite names an unknown scorer or passes a parameter it lacks."""
    for i, spec in enumerate(specs):
        key = f"{origin}: scorers[{i}]"
        if spec.name == JUDGE:
            if not isinstance(spec.params.get("rubric", ""), str):
                raise UserInputError(f"{key}: judge rubric must be a string")
            continue
        fn = lookup(spec.name)
        if fn is None:
            raise UserInputError(f"{key}: unknown scorer {spec.name!r} (known: {', '.join(scorer_names())})")
        accepted = accepted_params(fn)
        if accepted is not None:
            unknown = sorted(set(spec.params) - accepted)
            if unknown:
                raise UserInputError(
                    f"{key}: scorer {spec.name!r} has no parameter {unknown[0]!r} "
                    f"(takes: {', '.join(sorted(accepted)) or 'none'})"
                )
        if spec.name in INSTRUCTION_CHECKS and spec.name != "json_schema":
            try:
                check_instruction({"type": spec.name, **spec.params}, "probe")
            except KeyError as err:
                raise UserInputError(f"{key}: scorer {spec.name!r} needs parameter {err.args[0]!r}") from None
        if spec.name == "regex":
            pattern = spec.params.get("pattern")
            if not isinstance(pattern, str):
                raise UserInputError(f"{key}: scorer 'regex' needs a string 'pattern'")
            try:
                re.compile(pattern)
            except re.error as err:
                raise UserInputError(f"{key}: bad regex pattern: {err}") from None


def score_response(
    specs: Sequence[ScorerSpec],
    sample: Sample,
    text: str,
    judge: Callable[..., float] | None = None,
) -> dict[str, float]:
    """Every scorer's value by name, in spec order (the first is the primary score).

    A repeated scorer name gets a `#2`, `#3` suffix. `judge` is the run engine's JudgeScorer, needed only when a
    spec is named `judge`.
    """
    out: dict[str, float] = {}
    for spec in specs:
        if spec.name == JUDGE:
            if judge is None:
                raise UserInputError("scorer 'judge' needs a judge model configured")
            value = judge(sample, text, **dict(spec.params))
        else:
            value = get_scorer(spec.name)(sample, text, **dict(spec.params))
        key, n = spec.name, 2
        while key in out:
            key, n = f"{spec.name}#{n}", n + 1
        value = float(value)
        if math.isnan(value):  # min/max would turn NaN into 1.0: a broken scorer must not score as right
            raise ValueError(f"scorer {spec.name!r} returned NaN for sample {sample.id!r}")
        out[key] = max(0.0, min(1.0, value))
    return out
