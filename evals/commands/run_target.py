"""Where a run's requests go: the emulator started for the run, one started elsewhere (its settings asked for and
checked), or real Bedrock; and how run.json and the report describe that target.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evals.config import TargetConf, emulator_options
from evals.emulator.options import EmulatorOptions
from evals.errors import UserInputError
from evals.run.external_emulator import FIXED_AT_START, check_honoured, fetch_settings, read_endpoints


@contextlib.contextmanager
def open_target(cfg: DictConfig, regions: tuple[str, ...] = ()) -> Iterator[dict[str, Any] | None]:
    """Yield the emulator's endpoints (target=local, started for this run or elsewhere) or None (target=aws)."""
    if cfg.target.kind != "local":
        yield None
        return
    if cfg.target.endpoints_file:
        yield _external_emulator(cfg, regions)
        return
    from evals.emulator import Emulator
    from evals.emulator.process import EmulatorStartError

    cards = [OmegaConf.to_container(cfg.model, resolve=True)]  # the card as composed, a user's card included
    options = EmulatorOptions.from_dict({**emulator_options(cfg), "cards": cards}, origin="target")
    emu = Emulator(options)
    try:
        emu.start()
    except EmulatorStartError as err:  # its last stderr line says why (a port, a module, a card)
        lines = [line for line in str(err).splitlines() if line.strip()]
        raise UserInputError(f"target: the emulator did not start: {lines[-1].strip() if lines else err}") from None
    except BaseException:  # a Ctrl-C while it starts: stop it, so no process or TLS file outlives the run
        emu.stop()
        raise
    try:
        yield emu.endpoints
    finally:
        emu.stop()


def _external_emulator(cfg: DictConfig, regions: tuple[str, ...]) -> dict[str, Any]:
    """An emulator started elsewhere: its endpoints plus the settings it reports, checked against target.*."""
    path = Path(cfg.target.endpoints_file)
    endpoints = read_endpoints(path)
    served = fetch_settings(endpoints, path)
    asked = {**emulator_options(cfg), "seed": cfg.target.seed}  # no target.seed: any seed will do
    defaults = dataclasses.asdict(TargetConf(kind="local"))
    check_honoured(asked, defaults, served, regions, path)
    return {**endpoints, "settings": served}


def describe_target(cfg: DictConfig, endpoints: dict[str, Any] | None) -> dict[str, Any]:
    """The target as run.json and the report state it; an emulator run says so in plain words."""
    t = cfg.target
    if t.kind != "local":
        return {"kind": "aws", "emulator": False, "auth": t.auth}
    info: dict[str, Any] = {"kind": "local", "emulator": True, **emulator_options(cfg), "auth": t.auth}
    served = (endpoints or {}).get("settings")
    if served:  # an emulator started elsewhere: what it reports is what served the run
        info.update({k: served[k] for k in (*FIXED_AT_START, "faults") if k in served})
        info["emulator_settings"] = served
    info["external"] = bool(t.endpoints_file)
    engine_note = {
        "synthetic": "its synthetic engine (filler text, not a real model)",
        "echo": "its echo engine (the prompt sent back)",
        "oracle": f"its oracle engine, a test instrument that returns the expected answer with probability "
                  f"{info['oracle_accuracy']} (not a model)",
    }.get(str(info["engine"]), f"its {info['engine']} engine")
    info["note"] = (
        "Requests were served by the bedrock-evals emulator, not Amazon Bedrock: latencies are simulated "
        f"({info['latency_profile']} profile, scale {info['latency_scale']}) and answers come from {engine_note}."
    )
    return info
