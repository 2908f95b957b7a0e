"""`bedrock-evals run --help` and `--cfg job`: the config groups, their options and the main keys, discoverable.

Options are read from every folder on the search path (the shipped conf/ and the user's), each described by
the first comment line of its file; keys come from the structured schema, described below in one line each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from evals.config import Config, JudgeConf, LoadConf, RunConf, TargetConf, TransportConf, compose_config
from evals.searchpath import LOCAL_DIR_NAME, split_argv

CFG_FLAGS = ("--cfg", "-c")
HELP_FLAGS = ("--help", "-h")
GROUPS = {
    "target": "where requests go",
    "model": "the model card: ids, profiles, limits, quotas, prices (docs/model-cards.md)",
    "suite": "the tasks sent and how answers are scored (docs/suites.md)",
    "load": "how requests are scheduled",
    "experiment": "presets over several keys: +experiment=NAME",
}
KEYS = {
    "apis": "APIs to send through: converse, invoke, converse_stream, invoke_stream",
    "regions": "regions to send from; null: every region the card serves",
    "tiers": "service tiers: default, priority, flex, reserved (the card says which are offered)",
    "target.kind": "local (the emulator) | aws; chosen with target=local|aws",
    "load.strategy": "closed | constant | poisson | sweep; chosen with load=NAME",
    "target.fixed_latency_ms": "emulator fixed profile: total latency",
    "target.fixed_ttft_ms": "emulator fixed profile: time to first token",
    "target.auth": "sigv4 | bearer | auto (aws: AWS_BEARER_TOKEN_BEDROCK when set, else the standard chain)",
    "target.latency_profile": "emulator latency: realistic | zero | fixed",
    "target.latency_scale": "emulator: multiply simulated latencies (0.25 = four times faster)",
    "target.engine": "emulator answers: synthetic (filler) | echo | oracle (right with oracle_accuracy)",
    "target.oracle_accuracy": "emulator oracle engine: probability of the expected answer",
    "target.quota_scale": "emulator: multiply the card's quotas",
    "target.seed": "emulator seed; null: run.seed",
    "target.endpoints_file": "use an emulator already running (its endpoints file) instead of starting one",
    "target.faults": "emulator fault rates: throttle, internal_error, connection_reset, midstream_exception, ...",
    "load.concurrency": "closed loop: requests kept in flight",
    "load.rate": "open loop: requests per second",
    "load.duration_s": "stop sending after this many seconds (the plan repeats to fill it)",
    "load.max_requests": "cap on requests sent (warm-up not counted)",
    "load.warmup_requests": "requests sent first and left out of the statistics",
    "load.ramp_s": "closed loop: stagger worker starts over this many seconds",
    "load.max_in_flight": "open loop: worker pool; send lag shows when it is not enough",
    "load.sweep_of": "sweep: concurrency (closed loop) or rate (poisson)",
    "load.levels": "sweep: the levels, e.g. [1,4,16,64]",
    "run.repeats": "times each sample goes through each cell",
    "run.seed": "seed for sampling, interleaving and open-loop arrivals",
    "run.out_dir": "where run directories are created",
    "run.name": "label added to the run id",
    "run.resume": "RUN_DIR: send only what has no record yet",
    "run.max_tokens_total": "stop before a request could pass this many tokens",
    "run.max_cost_usd": "stop before a request could pass this estimated cost",
    "run.stop_at_half_width": "stop once every cell's score is within +/- this (anytime-valid)",
    "run.dry_run": "print requests per cell, tokens per quota, cost range and minimum duration; send nothing",
    "run.preflight": "target=aws: run the doctor's checks before the first request",
    "run.client_bound_lag_ms": "send-lag p99 above this flags the run as client-bound",
    "run.drain_timeout_s": "Ctrl-C: how long to wait for requests in flight",
    "run.progress": "show a progress bar",
    "run.report": "render report.html at the end",
    "run.history": "index the run in <out_dir>/history.sqlite",
    "transport.retry_mode": "botocore retry mode: standard | adaptive | legacy",
    "transport.max_attempts": "attempts per request, the first included",
    "transport.connect_timeout_s": "socket connect timeout",
    "transport.read_timeout_s": "socket read timeout",
    "transport.client_rate_limit": "hold requests client-side to the card's requests and tokens per minute",
    "transport.invoke_body_style": "InvokeModel body: prompt (native template) | messages",
    "transport.processes": "send from this many worker processes",
    "judge.model": "model card of the `judge` scorer's model",
    "judge.region": "judge region; null: the run's first region",
    "judge.api": "judge API",
    "judge.max_tokens": "judge maxTokens",
}
SCHEMAS: dict[str, type] = {"target": TargetConf, "load": LoadConf, "run": RunConf, "transport": TransportConf,
                            "judge": JudgeConf}


def wants_help(argv: list[str]) -> bool:
    return any(a in HELP_FLAGS or a.split("=", 1)[0] in CFG_FLAGS for a in argv)


def schema_keys() -> Iterator[str]:
    """Every key the structured schema defines (one level into each node), in schema order."""
    for f in dataclasses.fields(Config):
        if f.name in SCHEMAS:
            yield from (f"{f.name}.{g.name}" for g in dataclasses.fields(SCHEMAS[f.name]))
        elif f.name not in ("model", "suite"):
            yield f.name


def _describe(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("# @package"):
            continue
        if text.startswith("#"):
            return text.lstrip("# ").split(". ")[0].rstrip(".")
        if text:
            break
    return ""


def _card_line(path: Path) -> str:
    """A card is described by what it names: the model and its id."""
    try:
        card = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return ""
    if not isinstance(card, dict):
        return ""
    return f"{card.get('display_name') or card.get('name', path.stem)} ({card.get('model_id', '?')})"


def group_options(dirs: tuple[Path, ...]) -> dict[str, dict[str, str]]:
    """group -> option -> description, from every folder on the search path (first one wins)."""
    out: dict[str, dict[str, str]] = {}
    for folder in dirs:
        for group in GROUPS:
            for path in sorted((folder / group).glob("*.yaml")):
                text = _card_line(path) if group == "model" else _describe(path).split(": ", 1)[-1]
                out.setdefault(group, {}).setdefault(path.stem, text or f"(from {path})")
    return out


def _value(cfg: Any, key: str) -> str:
    value = OmegaConf.select(cfg, key, default=None)
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
        if isinstance(value, dict):
            return "{...}"
    return str(value).replace("'", "")


def help_text(argv: list[str]) -> str:
    argv = [a for a in argv if a not in HELP_FLAGS]
    search, _ = split_argv(argv)
    cfg = compose_config(argv)
    chosen = {"target": cfg.target.kind, "model": cfg.model.name, "suite": cfg.suite.name,
              "load": cfg.load.strategy}
    lines = [
        "usage: bedrock-evals run [--config-dir DIR] [group=option ...] [key=value ...] [-m|--multirun]",
        "       bedrock-evals run --cfg job [overrides]    print the composed config and exit",
        "       bedrock-evals run run.dry_run=true [...]   print the plan, its tokens, cost and minimum duration",
        "",
        "Config groups (group=option; * marks the option in use):",
    ]
    for group, options in group_options(search.dirs()).items():
        lines.append(f"  {group}: {GROUPS[group]}")
        for name, text in options.items():
            mark = "*" if chosen.get(group) == name else " "
            lines.append(f"   {mark}{name:<18} {text}")
    lines += ["", "Main keys (key=value; current value in brackets):"]
    for key in schema_keys():
        lines.append(f"  {key:<28} [{_value(cfg, key)}]  {KEYS.get(key, '')}".rstrip())
    lines += [
        "  suite.sample_size / suite.seed / suite.scorer / suite.params.max_tokens   override the suite's own",
        "  model.*                      any model card field, e.g. model.quotas.requests_per_minute=100",
        "",
        f"Your own cards, suites and presets: a ./{LOCAL_DIR_NAME}/ folder with the same group layout "
        f"({'found' if search.user_dirs else 'none here'}), --config-dir DIR, or hydra.searchpath=[file://DIR].",
        "Docs: README.md, docs/running.md, docs/model-cards.md. Other commands: bedrock-evals --help",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    cfg_flag = next((i for i, a in enumerate(argv) if a.split("=", 1)[0] in CFG_FLAGS), None)
    if cfg_flag is None:
        print(help_text(argv))
        return 0
    arg = argv[cfg_flag]
    rest = argv[:cfg_flag] + argv[cfg_flag + 1:]
    which = arg.split("=", 1)[1] if "=" in arg else (rest.pop(cfg_flag) if cfg_flag < len(rest) else "")
    if which != "job":
        from evals.errors import UserInputError

        raise UserInputError(f"--cfg: only 'job' is printed here (the composed run config), got {which!r}")
    print(OmegaConf.to_yaml(compose_config(rest)), end="")
    return 0
