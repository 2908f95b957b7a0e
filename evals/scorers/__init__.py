"""Scorers: pure functions `(sample, text, **params) -> float in [0, 1]`, registered by name with `@scorer`.

Only successful responses are scored; an empty answer simply scores 0.0. Parameters come from the suite's
`ScorerSpec`, and `per_item` lets one suite mix answer kinds (numbers, words, letters) by reading the scorer
named in each sample's `meta`. The modules: `registry` (names), `text` (reading answers out of prose),
`answers` and `instructions` (the scorers), `judge` (the judge model's verdict), `specs` (checking a suite's
scorer specs and scoring one response with them).
"""

from __future__ import annotations

from evals.scorers.judge import JudgeScorer
from evals.scorers.registry import JUDGE, ScorerFn, get_scorer, scorer, scorer_names
from evals.scorers.specs import INSTRUCTION_CHECKS, check_instruction, score_response, validate_scorer_specs
from evals.scorers.text import (
    answer_candidates,
    choice_letter,
    extract_json,
    final_number,
    normalize,
    numbers_in,
    strip_markdown,
    words,
)

__all__ = [
    "INSTRUCTION_CHECKS", "JUDGE", "JudgeScorer", "ScorerFn", "answer_candidates", "check_instruction",
    "choice_letter", "extract_json", "final_number", "get_scorer", "normalize", "numbers_in", "score_response",
    "scorer", "scorer_names", "strip_markdown", "validate_scorer_specs", "words",
]
