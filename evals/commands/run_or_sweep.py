"""`bedrock-evals run`: one run, a sweep (`-m`, `--multirun`), or the resume of a sweep folder.

Kept apart from `evals.commands.run` (one run) so that the sweep modules, which run jobs through it, are never
imported by it: the dependencies go one way, run_or_sweep -> sweep -> run.
"""

from __future__ import annotations

from evals.commands import run
from evals.commands.run_help import wants_help
from evals.commands.sweep import MULTIRUN_FLAGS, multirun
from evals.commands.sweep_resume import resume_sweep, sweep_to_resume


def main(argv: list[str]) -> int:
    if wants_help(argv):  # help and --cfg job are the single run's, with or without -m
        return run.main(argv)
    if any(a in MULTIRUN_FLAGS for a in argv):
        return multirun(argv)  # a sweep folder, one quota, one summary (Hydra's launchers)
    if (sweep := sweep_to_resume(argv)) is not None:
        return resume_sweep(sweep, argv)  # every unfinished job of a sweep folder
    return run.main(argv)
