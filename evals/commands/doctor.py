"""`bedrock-evals doctor [overrides]`: could a run with this config work? Also the run's preflight and dry run.

Exit 0 when every check passes (warnings allowed), 2 when a run could not work. Nothing is sent to a model
and no run directory is created.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from evals.commands.run_spec import RunSpec
from evals.config import compose_config
from evals.config_checks import check_config
from evals.errors import UserInputError

if TYPE_CHECKING:  # preflight pulls in boto3; imported when a check runs
    from evals.run.preflight import Check, Plan

USAGE = """usage: bedrock-evals doctor [--config-dir DIR] [overrides...]

Checks, for the configured target, model, regions, APIs and tiers: the credential source in use, the model
and its inference profile in each region (and where the profile routes), streaming support (GetFoundationModel
responseStreamingSupported), what the model card says the service refuses, and the quotas. The same overrides
as `bedrock-evals run` (e.g. target=aws regions=[us-east-1] apis=[converse_stream]). Exit 0: a run could
work; 2: it could not (each failure says what to do)."""


def plan_of(cfg: DictConfig) -> Plan:
    """What doctor checks: the run's config checked as a run checks it, except that what the card refuses
    becomes a failing check of its own instead of stopping."""
    from evals.run.preflight import Plan

    checked = check_config(cfg, refuse_cells=False)
    scale = float(cfg.target.quota_scale) if cfg.target.kind == "local" else 1.0
    return Plan(checked.card, checked.apis, checked.regions, checked.tiers, scale, bool(cfg.run.send_refused))


def checks_for(cfg: DictConfig, plan: Plan, endpoints: dict[str, Any] | None) -> list[Check]:
    """Run every check against the target; a stopping problem becomes a one-line UserInputError."""
    from evals.run.endpoints import LocalEndpoints
    from evals.run.preflight import Unready, run_checks

    local = LocalEndpoints.from_mapping(endpoints) if endpoints is not None else None
    try:
        return run_checks(plan, local, str(cfg.target.auth))
    except Unready as err:
        raise UserInputError(str(err)) from None


def doctor(cfg: DictConfig) -> int:
    from evals.commands.run_target import open_target

    plan = plan_of(cfg)
    with open_target(cfg) as endpoints:
        checks = checks_for(cfg, plan, endpoints)
    for check in checks:
        print(check.line())
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    verdict = "a run could not work" if failed else "a run could work"
    print(f"doctor: {len(checks)} checks, {failed} failed, {warned} warning(s) on target={cfg.target.kind}: {verdict}")
    return 2 if failed else 0


def before_run(cfg: DictConfig, spec: RunSpec) -> int | None:
    """The dry run (an exit code), or on target=aws the preflight (None: go on, or UserInputError: stop).

    Credentials are resolved even with run.preflight=false: it costs no request, and a missing profile
    should be one line, not a traceback from the first client.
    """
    if cfg.run.dry_run:
        return dry_run(cfg, spec)
    if cfg.run.preflight:
        preflight(cfg, spec)
    else:
        from evals.run.preflight import ControlPlane, Unready

        try:
            ControlPlane(None, str(cfg.target.auth)).describe_credentials()
        except Unready as err:
            raise UserInputError(str(err)) from None
    return None


def preflight(cfg: DictConfig, spec: RunSpec) -> None:
    """Before the first request of a target=aws run: the doctor's checks, stopping on any failure."""
    from evals.run.preflight import Plan

    checks = checks_for(cfg, Plan(spec.card, spec.apis, spec.regions, spec.tiers,
                                     send_refused=bool(cfg.run.send_refused)), None)
    failed = [c for c in checks if c.status != "ok"]
    for check in failed:
        print(check.line(), file=sys.stderr)
    if any(c.status == "fail" for c in failed):
        raise UserInputError(f"preflight: {sum(c.status == 'fail' for c in failed)} check(s) failed (above); "
                             "`bedrock-evals doctor` shows them all, run.preflight=false skips them")


def dry_run(cfg: DictConfig, spec: RunSpec) -> int:
    """`run.dry_run=true`: the plan's size, tokens, cost and quota-bound duration; nothing sent or written."""
    from evals.apis.common import effective_max_tokens
    from evals.run.estimate import estimate, plan_lines

    scale = float(cfg.target.quota_scale) if cfg.target.kind == "local" else 1.0
    requests = [r for _, group in spec.groups for r in group]
    found = sorted({r.load_level for r in requests if r.load_level is not None})
    levels = [f"{cfg.load.sweep_of} {level:g}" for level in found]
    est = estimate(spec.card, requests, effective_max_tokens, quota_scale=scale)
    for line in plan_lines(spec.card, est, cfg.target.kind, levels):
        print(line)
    return 0


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    return doctor(compose_config(argv))
