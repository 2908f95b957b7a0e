"""A run's outcome judged from its records: did the requests mostly succeed, and if not, why.

One function decides for run.json, the terminal, the report's banner and the exit code, so a run whose requests
failed can never look like a success in one place and a failure in another. Pure: records in, outcome out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from evals.results.table import RecordTable

# client-side codes meaning the request never reached the service
UNREACHABLE_CODES = frozenset({"EndpointConnectionError", "ConnectTimeout", "ConnectionClosed"})
DEFAULT_MAX_ERROR_RATE = 0.5
TOP_ERRORS = 3

OK, MOSTLY_FAILED, FAILED = "ok", "mostly-failed", "failed"

# `bedrock-evals run` exit codes (docs/running.md): 2 is bad input, as for every command
EXIT_OK = 0
EXIT_FAILED = 1  # status failed: no request succeeded, a fatal error stopped the run, or storage failed
EXIT_MOSTLY_FAILED = 4  # completed, but more requests failed than run.max_error_rate allows
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Outcome:
    """`verdict`: ok, mostly-failed (error rate above the limit) or failed (no request succeeded)."""

    verdict: str
    records: int
    errors: int
    error_rate: float | None
    max_error_rate: float
    top_errors: tuple[tuple[str, int], ...]
    unreachable: bool  # every failed request failed to connect: the target could not be reached

    @property
    def loud(self) -> bool:
        return self.verdict != OK

    def headline(self) -> str:
        """One line saying what failed and why (empty when the run is fine)."""
        if not self.loud:
            return ""
        share = "every request failed" if self.verdict == FAILED else (
            f"{self.errors} of {self.records} requests failed ({self.error_rate:.0%}, above "
            f"run.max_error_rate={self.max_error_rate:g})")
        codes = ", ".join(f"{code} x{n}" for code, n in self.top_errors)
        why = "the target could not be reached" if self.unreachable else f"top errors: {codes}"
        return f"{share}; {why}" + (f" ({codes})" if self.unreachable else "")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["top_errors"] = [{"error_code": c, "count": n} for c, n in self.top_errors]
        data["headline"] = self.headline()
        return data


def assess(table: RecordTable, max_error_rate: float = DEFAULT_MAX_ERROR_RATE) -> Outcome:
    """Judge a run from its records (warm-up included: a request that failed is a failure whatever its role)."""
    failed = ~table.ok
    total, errors = len(table), int(failed.sum())
    code_col = table.label("error_code")
    slots = code_col.codes[failed] + 1  # slot 0: no code
    counts = np.bincount(slots, minlength=len(code_col.values) + 1)
    present, first = np.unique(slots, return_index=True)
    codes: Counter[str] = Counter()  # codes in order of first failure, so ties rank as they happened
    for slot in present[np.argsort(first)].tolist():
        codes[(code_col.values[slot - 1] if slot else "") or "unknown"] += int(counts[slot])
    rate = errors / total if total else None
    if total and errors == total:
        verdict = FAILED
    elif rate is not None and rate > max_error_rate:
        verdict = MOSTLY_FAILED
    else:
        verdict = OK
    unreachable = bool(errors) and set(codes) <= UNREACHABLE_CODES
    return Outcome(verdict, total, errors, rate, max_error_rate, tuple(codes.most_common(TOP_ERRORS)), unreachable)


def final_status(stopped_as: str, outcome: Outcome) -> str:
    """run.json's status: a run that ended normally but in which no request succeeded is `failed`."""
    if outcome.verdict == FAILED and stopped_as in ("completed", "budget-stopped"):
        return "failed"
    return stopped_as


def exit_code(status: str, outcome: Outcome) -> int:
    if status == "interrupted":
        return EXIT_INTERRUPTED
    if status == "failed":
        return EXIT_FAILED
    return EXIT_MOSTLY_FAILED if outcome.verdict == MOSTLY_FAILED else EXIT_OK
