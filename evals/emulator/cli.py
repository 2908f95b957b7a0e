"""`bedrock-evals emulator ...`: parse flags (over an optional YAML config), serve until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from evals.cards import card_from_mapping
from evals.emulator.options import ENGINES, LATENCY_PROFILES, TARGET_SETTINGS, EmulatorOptions, load_config_file
from evals.errors import UserInputError
from evals.gcpause import freeze_startup_objects
from evals.yamlfile import read_yaml_mapping

READY_PREFIX = "emulator ready"
PARENT_ENV = "BEDROCK_EVALS_EMULATOR_PARENT_PID"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise UserInputError(f"emulator: {message}")


_CHOICES = {"latency_profile": LATENCY_PROFILES, "engine": ENGINES}


def build_parser() -> argparse.ArgumentParser:
    """A flag per setting a run's target also carries; unset flags leave EmulatorOptions' defaults (shown)."""
    p = _Parser(prog="bedrock-evals emulator", description="Serve the local Bedrock runtime emulator.")
    p.add_argument("--host", help=f"default {EmulatorOptions.host}")
    p.add_argument("--endpoints-file")
    p.add_argument("--config", help="YAML file with the same options plus faults:, quotas:, regions:, card_dir:")
    for key in TARGET_SETTINGS:
        default = getattr(EmulatorOptions, key)
        p.add_argument(f"--{key.replace('_', '-')}", type=type(default), choices=_CHOICES.get(key),
                       help=f"default {default}")
    p.add_argument("--card", action="append", default=[], metavar="FILE",
                   help="a model card YAML to serve besides the shipped ones (repeatable)")
    return p


SWITCH_INTERVAL_S = 0.0002


def options_from_argv(argv: list[str]) -> EmulatorOptions:
    """Config file first, flags on top; every problem is a UserInputError naming the key."""
    args = build_parser().parse_args(argv)
    data: dict[str, Any] = load_config_file(Path(args.config)) if args.config else {}
    origin = args.config or "emulator options"
    for key in ("host", "endpoints_file", *TARGET_SETTINGS):
        value = getattr(args, key)
        if value is not None:
            data[key] = value
    if args.card:
        data["cards"] = [*data.get("cards", []), *(_card_file(Path(f)) for f in args.card)]
    return EmulatorOptions.from_dict(data, origin=origin)


def _card_file(path: Path) -> dict[str, Any]:
    """A `--card FILE` mapping, checked here so that a bad card's line names its file."""
    data = read_yaml_mapping(path, "model card")
    card_from_mapping(data, origin=str(path))
    return data


def _check_endpoints_dir(path: Path) -> None:
    """The endpoints file's folder exists or can be made, and the file itself is not a folder."""
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UserInputError(f"endpoints_file: cannot write {path}: {blocker} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserInputError(f"endpoints_file: cannot create the folder of {path}: {err.strerror or err}") from None
    if path.is_dir():
        raise UserInputError(f"endpoints_file: {path} is a folder")


def main(argv: list[str]) -> int:
    try:
        options = options_from_argv(argv)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from evals.emulator.server import EmulatorServer  # heavy imports only once options are valid

    try:
        if options.endpoints_file:  # before any socket or TLS file exists
            _check_endpoints_dir(Path(options.endpoints_file))
        server = EmulatorServer(options)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    parent = os.environ.get(PARENT_ENV)
    # Started by a run: a Ctrl-C at the terminal reaches the whole process group, and the run drains its
    # requests in flight before it stops us (SIGTERM); answering them is our part, so SIGINT is ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN if parent else lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # A thread whose deadline passed waits for the interpreter lock until the running thread yields it, at the
    # latest after the switch interval (5 ms by default): parsing other requests must not delay a due answer.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    server.start()
    freeze_startup_objects()  # a full collection would stall every answer in flight
    endpoints = server.endpoints()
    if options.endpoints_file:
        try:
            server.write_endpoints(Path(options.endpoints_file))
        except OSError as err:
            server.stop()
            print(f"error: endpoints_file: cannot write {options.endpoints_file}: {err.strerror or err}",
                  file=sys.stderr)
            return 2
    for region, urls in endpoints["regions"].items():
        print(f"{region}: https {urls['https']}  http {urls['http']}")
    print(f"ca_file: {endpoints['ca_file']}")
    print(f"admin: {endpoints['admin']}")
    where = options.endpoints_file or "-"
    print(f"{READY_PREFIX} pid={endpoints['pid']} endpoints_file={where}", flush=True)
    while not stop.wait(1.0):
        if parent and os.getppid() != int(parent):  # the process that started us is gone: do not linger
            break
    server.stop()
    return 0
