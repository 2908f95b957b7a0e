"""Argument helpers shared by the commands that take two arms of run directories (compare, gate)."""

from __future__ import annotations

from collections.abc import Sequence

from evals.errors import UserInputError

SPLIT = "\x00cand\x00"  # stands in for "--" while argparse reads the directories


def split_dirs(dirs: Sequence[str], flag: str = "--") -> tuple[list[str], list[str]]:
    """`BASE CAND` or `BASE... -- CAND...` into (baseline dirs, candidate dirs)."""
    if SPLIT in dirs:
        i = list(dirs).index(SPLIT)
        base, cand = list(dirs[:i]), list(dirs[i + 1:])
        if SPLIT in cand:
            raise UserInputError(f"{flag}: given more than once")
    elif len(dirs) == 2:
        base, cand = [dirs[0]], [dirs[1]]
    else:
        raise UserInputError(f"expected BASE_DIR CAND_DIR or BASE_DIR... {flag} CAND_DIR..., got {len(dirs)} "
                             "directories")
    if not base or not cand:
        raise UserInputError(f"{flag}: needs at least one directory on each side")
    return base, cand


def protect_split(argv: Sequence[str]) -> list[str]:
    """Keep the first `--` visible to the directory splitter (argparse would swallow it)."""
    out, done = [], False
    for a in argv:
        if a == "--" and not done:
            out.append(SPLIT)
            done = True
        else:
            out.append(a)
    return out
