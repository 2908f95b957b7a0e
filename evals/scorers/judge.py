"""The `judge` scorer: a judge model's verdict on a response. Not a pure function, so the run builds it with the
judge model's client and passes it to `score_response`; everything else here is the prompt and the parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from evals.run.judge import JudgeUnavailable
from evals.types import Sample

_DEFAULT_RUBRIC = (
    "Grade the RESPONSE to the TASK. If a REFERENCE answer is given, the response is correct when it agrees "
    "with the reference in substance; wording and format do not matter."
)
_VERDICT = re.compile(r"(?im)^\s*(?:\*\*)?verdict(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*(correct|incorrect)\b")
_SCORE = re.compile(r"(?im)^\s*(?:\*\*)?score(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*([01](?:\.\d+)?)\b")


@dataclass(frozen=True)
class JudgeScorer:
    """Asks a judge model (any `complete(prompt) -> text` callable) for a verdict and parses it.

    The judge must end with `VERDICT: CORRECT` or `VERDICT: INCORRECT` (or `SCORE: x` in [0, 1] when `graded`);
    a reply without one raises `JudgeUnavailable`: the judged answer is left unscored, never scored as wrong.
    """

    complete: Callable[[str], str]
    rubric: str = _DEFAULT_RUBRIC
    graded: bool = False

    def prompt(self, sample: Sample, text: str, rubric: str | None = None) -> str:
        parts = [
            "You are grading an answer produced by an AI model.",
            f"RUBRIC:\n{rubric or self.rubric}",
            f"TASK:\n{sample.prompt}",
        ]
        if sample.answer is not None:
            parts.append(f"REFERENCE:\n{sample.answer}")
        parts.append(f"RESPONSE:\n{text}")
        if self.graded:
            parts.append("Reply with one line of reasoning, then a final line `SCORE: x` with x between 0 and 1.")
        else:
            parts.append("Reply with one line of reasoning, then a final line `VERDICT: CORRECT` or "
                         "`VERDICT: INCORRECT`.")
        return "\n\n".join(parts)

    def parse_verdict(self, reply: str) -> float | None:
        """The judge's score, or None when its reply has no verdict line."""
        if self.graded:
            found = _SCORE.findall(reply)
            return min(1.0, float(found[-1])) if found else None
        found = _VERDICT.findall(reply)
        return (1.0 if found[-1].lower() == "correct" else 0.0) if found else None

    def __call__(self, sample: Sample, text: str, *, rubric: str | None = None) -> float:
        if not text.strip():
            return 0.0
        reply = self.complete(self.prompt(sample, text, rubric))
        verdict = self.parse_verdict(reply)
        if verdict is None:
            raise JudgeUnavailable(f"the judge's reply has no verdict line ({len(reply)} characters)")
        return verdict
