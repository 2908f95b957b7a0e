"""Emulator options: one plain dataclass built from CLI flags, a YAML file or a Hydra `target.*` mapping."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import UserInputError
from evals.paths import CONF_DIR
from evals.yamlfile import read_yaml_mapping

DEFAULT_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2")
LATENCY_PROFILES = ("realistic", "zero", "fixed")
ENGINES = ("synthetic", "echo", "oracle")
NETWORK_FILE = CONF_DIR / "emulator" / "network.yaml"
# The options a run's `target.*` also carries (besides `faults`); their defaults are EmulatorOptions' own, which
# the harness's target schema reads, so a setting has one default wherever it is given.
TARGET_SETTINGS = ("latency_profile", "latency_scale", "fixed_latency_ms", "fixed_ttft_ms", "engine",
                   "oracle_accuracy", "quota_scale", "seed")


@dataclass
class FaultOptions:
    """Per-request probabilities of each injected fault (0 disables it) and the fault timings."""

    throttle: float = 0.0
    model_not_ready: float = 0.0
    internal_error: float = 0.0
    service_unavailable: float = 0.0
    model_timeout: float = 0.0
    connection_reset: float = 0.0
    stall_before_first_byte: float = 0.0
    stall_ms: float = 2000.0
    midstream_exception: float = 0.0
    slow_trickle: float = 0.0
    trickle_delay_ms: float = 50.0

    RATES = (
        "throttle",
        "model_not_ready",
        "internal_error",
        "service_unavailable",
        "model_timeout",
        "connection_reset",
        "stall_before_first_byte",
        "midstream_exception",
        "slow_trickle",
    )

    def validate(self) -> None:
        for name in self.RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UserInputError(f"faults.{name}: must be a probability in [0, 1], got {value}")
        for name in ("stall_ms", "trickle_delay_ms"):
            if getattr(self, name) < 0:
                raise UserInputError(f"faults.{name}: must be >= 0")


@dataclass
class Limits:
    """How the front door protects itself from slow, idle or oversized clients."""

    max_connections: int = 1024  # open per emulator; past it the oldest connection that sent nothing is closed
    header_timeout_s: float = 10.0  # from a request's first byte (or a connection's TLS hello) to its last header
    body_timeout_s: float = 30.0  # from the last header to the last body byte
    idle_timeout_s: float = 60.0  # a connection with no request in flight is closed after this long
    max_body_bytes: int = 25_000_000  # the service model's limit on InvokeModel's body; larger answers 413

    def __post_init__(self) -> None:
        self.max_connections = int(self.max_connections)  # YAML and flags may give floats
        self.max_body_bytes = int(self.max_body_bytes)

    def validate(self) -> None:
        for name in ("max_connections", "header_timeout_s", "body_timeout_s", "idle_timeout_s", "max_body_bytes"):
            if getattr(self, name) <= 0:
                raise UserInputError(f"limits.{name}: must be > 0")


@dataclass
class QuotaOverrides:
    """Replace the card quotas (before `quota_scale`); None keeps the card's value."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    tokens_per_day: float | None = None


@dataclass
class Credentials:
    """Fixed credentials; empty fields are generated randomly at start."""

    access_key_id: str = ""
    secret_access_key: str = ""
    api_key: str = ""

    def __repr__(self) -> str:  # never show secrets in logs or tracebacks
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key=***, api_key=***)"


@dataclass
class EmulatorOptions:
    """Everything that shapes an emulator run. Constructible from a plain dict with `from_dict`."""

    host: str = "127.0.0.1"
    endpoints_file: str | None = None
    latency_profile: str = "realistic"
    latency_scale: float = 1.0
    fixed_latency_ms: float = 0.0
    fixed_ttft_ms: float = 0.0
    seed: int = 0
    engine: str = "synthetic"
    oracle_accuracy: float = 1.0
    quota_scale: float = 1.0
    quotas: QuotaOverrides = field(default_factory=QuotaOverrides)
    faults: FaultOptions = field(default_factory=FaultOptions)
    regions: tuple[str, ...] = DEFAULT_REGIONS
    card_dir: str | None = None
    # Model cards given inline (a run passes the card it composed, user cards included); they add to the
    # card_dir's cards and replace one with the same name.
    cards: tuple[dict[str, Any], ...] = ()
    network_file: str | None = None
    credentials: Credentials = field(default_factory=Credentials)
    limits: Limits = field(default_factory=Limits)
    # Base model ids whose CountTokens answers ValidationException (Llama 4 support is unconfirmed).
    count_tokens_unsupported: tuple[str, ...] = ("meta.llama4-maverick-17b-instruct-v1:0",)
    # When set, throttles carry `x-amz-retry-after` (ms); Bedrock sending it is unconfirmed, so off by default.
    retry_after_ms: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, origin: str = "emulator options",
                  ignore_unknown: bool = False) -> EmulatorOptions:
        """Build options from a mapping; unknown or ill-typed keys raise UserInputError naming the key.

        `ignore_unknown=True` skips keys that are not options (e.g. a whole Hydra `target` node).
        """
        data = dict(data or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                if ignore_unknown:
                    continue
                raise UserInputError(f"{origin}: unknown key {key!r}")
            if value is None and key not in ("endpoints_file", "card_dir", "network_file", "retry_after_ms"):
                continue
            kwargs[key] = _coerce(key, value, origin)
        opts = cls(**kwargs)
        opts.validate(origin)
        return opts

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for the YAML handed to a child process)."""
        out = dataclasses.asdict(self)
        out["regions"] = list(self.regions)
        out["count_tokens_unsupported"] = list(self.count_tokens_unsupported)
        out["cards"] = [dict(card) for card in self.cards]
        return out

    def validate(self, origin: str = "emulator options") -> None:
        if self.latency_profile not in LATENCY_PROFILES:
            raise UserInputError(f"{origin}: latency_profile must be one of {', '.join(LATENCY_PROFILES)}")
        if self.engine not in ENGINES:
            raise UserInputError(f"{origin}: engine must be one of {', '.join(ENGINES)}")
        if self.latency_scale < 0:
            raise UserInputError(f"{origin}: latency_scale must be >= 0")
        if self.quota_scale <= 0:
            raise UserInputError(f"{origin}: quota_scale must be > 0")
        if not 0.0 <= self.oracle_accuracy <= 1.0:
            raise UserInputError(f"{origin}: oracle_accuracy must be in [0, 1]")
        if self.fixed_latency_ms < 0 or self.fixed_ttft_ms < 0:
            raise UserInputError(f"{origin}: fixed_latency_ms and fixed_ttft_ms must be >= 0")
        if not self.regions:
            raise UserInputError(f"{origin}: regions must not be empty")
        self.faults.validate()
        self.limits.validate()

    def model_card_dir(self) -> Path | None:
        return Path(self.card_dir) if self.card_dir else None

    def network_path(self) -> Path:
        return Path(self.network_file) if self.network_file else NETWORK_FILE


def _coerce(key: str, value: Any, origin: str) -> Any:
    """Turn a YAML/Hydra value into the field's type; a bad value names its key."""
    try:
        if key == "faults":
            return _sub(FaultOptions, value, f"{origin}: faults", float)
        if key == "quotas":
            return _sub(QuotaOverrides, value, f"{origin}: quotas", float)
        if key == "limits":
            return _sub(Limits, value, f"{origin}: limits", float)
        if key == "credentials":
            return _sub(Credentials, value, f"{origin}: credentials", str)
        if key == "cards":
            if not isinstance(value, list | tuple) or not all(isinstance(c, Mapping) for c in value):
                raise ValueError("must be a list of model-card mappings")
            return tuple(dict(c) for c in value)
        if key in ("regions", "count_tokens_unsupported"):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            return tuple(str(v) for v in value)
        if key in ("latency_scale", "fixed_latency_ms", "fixed_ttft_ms", "oracle_accuracy", "quota_scale"):
            return float(value)
        if key == "seed":
            return int(value)
        if key == "retry_after_ms":
            return None if value is None else int(value)
        return None if value is None else str(value)
    except (TypeError, ValueError) as err:
        raise UserInputError(f"{origin}: {key}: {err}") from None


def _sub(cls: type, value: Any, origin: str, cast: type) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise UserInputError(f"{origin}: must be a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in value.items():
        if k not in names:
            raise UserInputError(f"{origin}.{k}: unknown key")
        try:
            kwargs[k] = None if v is None else cast(v)
        except (TypeError, ValueError):
            raise UserInputError(f"{origin}.{k}: bad value {v!r}") from None
    return cls(**kwargs)


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping (errors name the file)."""
    return read_yaml_mapping(path, "emulator config", empty_ok=True)
