"""Structured config schemas (Hydra ConfigStore) and composition with one-line errors.

Only this module and the run CLI import Hydra. Secrets are never config values: credentials come from the
environment or the emulator's endpoints file at run time, so they can never land in a saved config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evals.config_nodes import ModelCardNode, SuiteNode
from evals.emulator.options import TARGET_SETTINGS, EmulatorOptions, FaultOptions
from evals.errors import UserInputError
from evals.overrides import is_addition, rewrite_additions
from evals.redact import redact_text
from evals.searchpath import SearchPath, split_argv


@dataclass
class TargetConf:
    """Where requests go. `local` starts the emulator; `aws` uses real endpoints and the standard chain.

    The emulator's settings take their defaults from `EmulatorOptions`, the one place they are defined.
    """

    kind: str = MISSING  # local | aws
    auth: str = "sigv4"  # sigv4 | bearer | auto (aws: the standard chain; AWS_PROFILE picks a profile)
    latency_profile: str = EmulatorOptions.latency_profile  # realistic | zero | fixed
    latency_scale: float = EmulatorOptions.latency_scale
    fixed_latency_ms: float = EmulatorOptions.fixed_latency_ms
    fixed_ttft_ms: float = EmulatorOptions.fixed_ttft_ms
    engine: str = EmulatorOptions.engine  # synthetic | echo | oracle
    oracle_accuracy: float = EmulatorOptions.oracle_accuracy
    quota_scale: float = EmulatorOptions.quota_scale
    seed: int | None = None  # emulator seed; defaults to run.seed
    faults: FaultOptions = field(default_factory=FaultOptions)  # the emulator's own schema, one definition
    endpoints_file: str | None = None  # local: use an emulator already running (its endpoints file)


@dataclass
class LoadConf:
    """Load profile: closed keeps N in flight; constant/poisson are open-loop; sweep runs levels in turn."""

    strategy: str = MISSING  # closed | constant | poisson | sweep
    concurrency: int = 4
    rate: float | None = None  # requests/s for open-loop strategies
    duration_s: float | None = None
    max_requests: int | None = None
    warmup_requests: int = 0
    ramp_s: float = 0.0  # closed loop: worker k starts at k x ramp_s / concurrency
    max_in_flight: int = 256  # open-loop worker pool; lag shows when it is not enough
    sweep_of: str = "concurrency"  # sweep levels are concurrency (closed) or rate (poisson)
    levels: list[float] = field(default_factory=list)


@dataclass
class TransportConf:
    retry_mode: str = "standard"  # standard | adaptive | legacy
    max_attempts: int = 3
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    client_rate_limit: bool = True  # honour the card's RPM/TPM on the client side
    invoke_body_style: str = "prompt"  # prompt | messages
    processes: int = 1  # > 1: send from this many worker processes (evals/run/process_sender.py)
    quota_share: str = "auto"  # auto: a multirun's jobs share the quota (evals/run/quota_share.py) | off


@dataclass
class JudgeConf:
    """The model behind the `judge` scorer; sent through the same target and transport as the run."""

    model: str | None = None  # a model card name (conf/model/); None: no judge, and a `judge` scorer is an error
    region: str | None = None  # None: the run's first region
    api: str = "converse"
    max_tokens: int = 256


@dataclass
class RunConf:
    repeats: int = 1
    seed: int = 0
    out_dir: str = "reports"
    name: str | None = None  # optional label added to the run id
    resume: str | None = None  # RUN_DIR to resume
    max_tokens_total: int | None = None
    max_cost_usd: float | None = None
    stop_at_half_width: float | None = None  # stop once every cell's score is within ± this (anytime-valid)
    client_bound_lag_ms: float = 10.0  # send-lag p99 above this flags the run client-bound
    drain_timeout_s: float = 30.0  # bound on waiting for in-flight requests at Ctrl-C
    progress: bool = True
    report: bool = True
    history: bool = True  # index the run in <out_dir>/history.sqlite (bedrock-evals history)
    max_error_rate: float = 0.5  # more failed requests than this share: exit 4 and a red banner
    send_refused: bool = False  # target=aws: send cells the model card refuses, to measure the refusal
    resume_force: bool = False  # resume even though the suite data, model card or config changed
    dry_run: bool = False  # print the plan (requests, tokens, cost, minimum duration) and send nothing
    preflight: bool = True  # target=aws: run `doctor`'s checks before the first request


@dataclass
class Config:
    target: TargetConf = MISSING
    model: ModelCardNode = MISSING  # a model card (conf/model/*.yaml)
    suite: SuiteNode = MISSING  # a suite node (conf/suite/*.yaml); its definition is read by evals.suites
    load: LoadConf = MISSING
    apis: list[str] = field(default_factory=lambda: ["converse", "invoke"])
    regions: list[str] | None = None  # None: the card's source regions
    tiers: list[str] = field(default_factory=lambda: ["default"])
    run: RunConf = field(default_factory=RunConf)
    transport: TransportConf = field(default_factory=TransportConf)
    judge: JudgeConf = field(default_factory=JudgeConf)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(group="target", name="base_target", node=TargetConf)
    cs.store(group="load", name="base_load", node=LoadConf)


def _one_line(err: BaseException) -> str:
    """Hydra/OmegaConf messages span lines; lead with the offending key and keep one line."""
    chain: list[BaseException] = []
    cur: BaseException | None = err
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for exc in chain:
        full_key = getattr(exc, "full_key", None)
        if isinstance(exc, OmegaConfBaseException) and full_key:
            return f"{full_key}: {str(exc).splitlines()[0]}"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if "Config search path:" in lines:
        lines = lines[: lines.index("Config search path:")]
    return " ".join(lines) or type(err).__name__


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose config.yaml (user folders first, then the shipped conf/) with command-line overrides.

    Any error becomes a one-line UserInputError.
    """
    search, overrides = split_argv(overrides)  # user config folders join the search path after conf/
    if any(is_addition(o) for o in overrides):  # +/++ keys are checked against the config composed without them
        base = _compose(search, [o for o in overrides if not is_addition(o)])
        overrides = rewrite_additions(overrides, base, search.dirs())
    return _compose(search, overrides)


def _compose(search: SearchPath, overrides: list[str]) -> DictConfig:
    try:
        return _hydra_compose(search, overrides)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        raise UserInputError(f"config: {redact_text(_one_line(err))}") from None
    except AssertionError:  # OmegaConf's way of refusing a key under a node that is null (suite.dataset.x=...)
        raise UserInputError(f"config: {redact_text(_under_null(search, overrides))}") from None
    except AttributeError as err:  # and of refusing a mapping for a null node (suite.dataset={...})
        found = re.search(r"full_key: (\S+)", str(err))
        if found is None:
            raise
        raise UserInputError(f"config: {found.group(1)}: is null in this config, so it takes no keys") from None


def _hydra_compose(search: SearchPath, overrides: list[str]) -> DictConfig:
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(search.primary), version_base="1.3", job_name="bedrock-evals"):
            cfg = compose(config_name="config", overrides=[*overrides, *search.override()])
        OmegaConf.resolve(cfg)
    finally:
        GlobalHydra.instance().clear()
    return cfg


def _under_null(search: SearchPath, overrides: list[str]) -> str:
    """Name the first override that sets a key under a null node (found by composing ever longer prefixes)."""
    for i, override in enumerate(overrides):
        try:
            _hydra_compose(search, overrides[: i + 1])
        except AssertionError:
            key = override.split("=", 1)[0].lstrip("+~")
            return f"{key}: not a config key here: {key.rsplit('.', 1)[0]} is null, so it has no keys to set"
        except (HydraException, OmegaConfBaseException, ValueError):
            continue
    return "an override sets a key under a null node"


def config_from_saved(saved: dict[str, Any], origin: str) -> DictConfig:
    """A run's saved config checked against the schema again (a resume trusts no file blindly)."""
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(Config), saved)
    except (OmegaConfBaseException, ValueError) as err:
        raise UserInputError(f"{origin}: saved config: {_one_line(err)}") from None
    return cfg  # type: ignore[return-value]


def emulator_options(cfg: DictConfig) -> dict[str, Any]:
    """The emulator's options as the run's `target.*` gives them: the one place a run builds them."""
    t = cfg.target
    options = {key: t[key] for key in TARGET_SETTINGS}
    options["seed"] = t.seed if t.seed is not None else cfg.run.seed
    options["faults"] = OmegaConf.to_container(t.faults)
    return options


def parse_bool(key: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise UserInputError(f"{key}: expected true or false, got {text!r}")
