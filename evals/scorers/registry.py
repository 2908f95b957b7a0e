"""The scorer registry: scorers are pure functions `(sample, text, **params) -> float in [0, 1]`, registered by
name with `@scorer`, so a suite names them in YAML and a misspelt name or parameter is refused before a request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

ScorerFn = Callable[..., float]

_REGISTRY: dict[str, ScorerFn] = {}
JUDGE = "judge"  # scored by a JudgeScorer the run engine builds; not a pure function


def scorer(name: str) -> Callable[[ScorerFn], ScorerFn]:
    """Register a scorer under `name` (used in suite YAML as `scorers: [{name: ...}]`)."""

    def register(fn: ScorerFn) -> ScorerFn:
        if name in _REGISTRY:
            raise ValueError(f"scorer {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return register


def get_scorer(name: str) -> ScorerFn:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted([*_REGISTRY, JUDGE]))
        raise KeyError(f"unknown scorer {name!r} (known: {known})") from None


def lookup(name: str) -> ScorerFn | None:
    """The registered scorer of that name, or None (the judge is not registered: the run builds it)."""
    return _REGISTRY.get(name)


def scorer_names() -> tuple[str, ...]:
    return tuple(sorted([*_REGISTRY, JUDGE]))


def accepted_params(fn: ScorerFn) -> set[str] | None:
    """Keyword parameters a scorer takes; None when it takes **kwargs."""
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {n for n, p in list(sig.parameters.items())[2:] if p.kind is p.KEYWORD_ONLY}
