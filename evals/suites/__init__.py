"""Task suites: definitions in `suites/*.yaml`, loaded into `Suite`s with items, images and scorers resolved."""

from __future__ import annotations

from evals.suites.loader import load_suite, oracle_text, resolve_definition

__all__ = ["builtin_suites", "load_suite", "oracle_text", "resolve_definition"]


def builtin_suites() -> tuple[str, ...]:
    """Names of the suite definitions shipped in `suites/` (the generic `jsonl` one excluded)."""
    from evals.paths import SUITES_DIR

    return tuple(sorted(p.stem for p in SUITES_DIR.glob("*.yaml") if p.stem != "jsonl"))
