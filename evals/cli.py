"""`bedrock-evals` entry point: dispatches sub-commands; each sub-command module owns its own arguments."""

from __future__ import annotations

import importlib
import sys

from evals.commands.interrupts import mark_process_entry
from evals.errors import UserInputError
from evals.redact import redact_text
from evals.untrusted import for_terminal

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("evals.commands.run_or_sweep", "plan, run and report a suite (Hydra overrides follow)"),
    "report": ("evals.commands.report", "re-render report.html from one or more run directories"),
    "compare": ("evals.commands.compare", "compare two runs (or two cells of one run)"),
    "gate": ("evals.commands.gate",
             "CI regression gate over two runs: exit 0 pass, 1 fail, 2 bad input, 3 inconclusive"),
    "history": ("evals.commands.history", "list indexed runs and a metric's trend"),
    "emulator": ("evals.emulator.cli", "serve the local Bedrock runtime emulator until stopped"),
    "doctor": ("evals.commands.doctor", "check credentials, model access, routing, streaming and quotas for a target"),
}


def version() -> str:
    """The installed distribution's version (a checkout installed with `make install` has one too)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("bedrock-evals")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _usage() -> str:
    lines = ["usage: bedrock-evals [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "`bedrock-evals COMMAND --help` describes a command; `run --help` lists config groups and keys."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        mark_process_entry()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-V", "--version"):
        print(f"bedrock-evals {version()}")
        return 0
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"bedrock-evals: unknown command {command!r}\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[command][0])
        return int(module.main(rest) or 0)
    except UserInputError as err:
        print(f"error: {for_terminal(redact_text(str(err)))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:  # a Ctrl-C before anything was written (a run handles its own after that)
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
