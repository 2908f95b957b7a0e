"""`+key=value` and `++key=value` overrides, held to the schema like any other override.

Hydra's `+` adds a key the config does not have and `++` adds or sets one, so through them a mistyped key
(`+load.concurency=8`) would be silently ignored and an unknown one (`+target.aws_secret_access_key=...`) saved in
run.json. Here a `+`/`++` override of a key the composed config already has becomes a plain override (typed and
checked by the schema), one of a key it lacks is refused with one line naming the key (never its value), and
adding a config group (`+experiment=NAME`) or setting Hydra's own keys works as Hydra documents.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from evals.errors import UserInputError

_ABSENT = object()


def is_addition(override: str) -> bool:
    return override.startswith("+")


def _key(override: str) -> str:
    return override.lstrip("+").split("=", 1)[0].strip()


def _all_keys(node: object, prefix: str = "") -> Iterable[str]:
    if isinstance(node, DictConfig):
        for k in node:
            path = f"{prefix}{k!s}"
            yield path
            yield from _all_keys(node._get_node(k), f"{path}.")


def _passes_through(key: str, group_dirs: Sequence[Path]) -> bool:
    """Hydra's own additions: a config group (`+experiment=NAME`, `hydra/launcher=...`) or a hydra.* key."""
    if key.startswith("hydra.") or key.startswith("hydra/") or "/" in key or "@" in key:
        return True
    return "." not in key and any((d / key).is_dir() for d in group_dirs)


def rewrite_additions(overrides: Sequence[str], base: DictConfig, group_dirs: Sequence[Path]) -> list[str]:
    """The overrides with every `+`/`++` on a known key turned into a plain one; unknown keys are refused.

    `base` is the config composed from the other overrides, so a key a chosen group brings is known.
    """
    out = []
    for override in overrides:
        key = _key(override)
        if not is_addition(override) or _passes_through(key, group_dirs):
            out.append(override)
            continue
        if "=" not in override:
            raise UserInputError(f"config: {key}: an override needs a value (key=value)")
        if OmegaConf.select(base, key, default=_ABSENT, throw_on_missing=False) is _ABSENT:
            close = difflib.get_close_matches(key, list(_all_keys(base)), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else " (see bedrock-evals run --cfg job for the keys)"
            raise UserInputError(f"config: {key}: not a config key, so it would be ignored{hint}")
        out.append(f"{key}={override.split('=', 1)[1]}")
    return out
