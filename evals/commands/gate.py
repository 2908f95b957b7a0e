"""`bedrock-evals gate`: the CI regression gate between a baseline and a candidate.

Rules (conf/gate/default.yaml or --rules FILE) name a metric, a margin and optionally a direction, alpha and
suites. Every rule is checked in every matched cell (`evals.results.verdicts`): FAIL when the data show, at
confidence 1 - alpha (Holm across all checks), a change worse than the margin; PASS when the worse-side bound
is inside the margin; INCONCLUSIVE otherwise. A candidate cell without a successful request FAILs; a baseline
cell without one is bad input.

Exit codes: 0 pass, 1 regression, 2 bad input or usage, 3 inconclusive (`--inconclusive` or the rules'
`inconclusive:` policy may map inconclusive to pass or fail; an outage is a FAIL under every policy).
The terminal gets plain text; the Markdown summary goes to GITHUB_STEP_SUMMARY / --summary. See docs/gate.md.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evals.commands.args import protect_split, split_dirs
from evals.errors import UserInputError
from evals.render import gate as gate_render
from evals.results.arms import Arm, check_comparable, load_arm, match_runs
from evals.results.rules import DEFAULT_RULES, POLICIES, Rules, load_rules
from evals.results.rundata import CellKey
from evals.results.verdicts import BaselineOutage, CheckSpec, Decided, cloud_margin_warnings, evaluate, exit_code

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bedrock-evals gate",
        description="Regression gate: exit 0 pass, 1 regression, 2 bad input, 3 inconclusive.",
        epilog="Several runs per arm: bedrock-evals gate BASE1 BASE2 -- CAND1 CAND2 (latency is then compared "
               "at the run level). Rules and decision: docs/gate.md.")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="BASE_DIR CAND_DIR, or BASE_DIR... -- CAND_DIR...")
    p.add_argument("--rules", type=Path, default=None, help=f"rules file (default {DEFAULT_RULES})")
    p.add_argument("--junit", type=Path, default=None, help="write a JUnit XML file: one test case per rule and cell")
    p.add_argument("--inconclusive", choices=POLICIES, default=None,
                   help="what an inconclusive result does (overrides the rules file): exit 3, 0 or 1")
    p.add_argument("--allow-model-change", action="store_true",
                   help="gate a candidate that measures a different model than the baseline")
    p.add_argument("--summary", type=Path, default=None,
                   help="also append the Markdown summary here (GITHUB_STEP_SUMMARY is used when set)")
    return p


@dataclass(frozen=True)
class GateResult:
    """Everything one gate decided, ready to render."""

    base: Arm
    cand: Arm
    checks: list[Decided]
    not_applicable: list[tuple[CheckSpec, CellKey]]
    warnings: list[str]

    def header(self, rules: Rules) -> gate_render.Header:
        return gate_render.Header(
            self.base.run_ids, self.cand.run_ids, rules.inconclusive, str(rules.path), rules.alpha, self.warnings,
            [f"{spec.name} in {cell.label()}" for spec, cell in self.not_applicable],
            any(run.is_emulated for arm in (self.base, self.cand) for run in arm.runs))


def run_gate(base_dirs: Sequence[str], cand_dirs: Sequence[str], rules: Rules, allow_model_change: bool = False
             ) -> GateResult:
    """Load, check and decide; raises UserInputError on arms that cannot be gated (a baseline outage too)."""
    base, cand = load_arm(base_dirs, "baseline"), load_arm(cand_dirs, "candidate")
    matched = match_runs(base, cand)
    warnings = check_comparable(base, cand, matched, strict=True, allow_model_change=allow_model_change)
    overlap = set(base.run_ids) & set(cand.run_ids)
    if overlap:
        warnings.append(f"the same run is in both arms: {', '.join(sorted(overlap))}")
    specs = [rule.spec() for rule in rules.rules]
    try:
        checks, not_applicable = evaluate(specs, matched.cells, rules.min_runs, rules.batches)
    except BaselineOutage as err:
        raise UserInputError(f"{base.paths[0]}: {err}") from None
    if not checks:
        raise UserInputError(f"{rules.path}: no rule applies to these runs (no metric has values)")
    cloud = not all(run.is_emulated for arm in (base, cand) for run in arm.runs)
    warnings += cloud_margin_warnings(specs, (len(base.runs), len(cand.runs)), cloud)
    return GateResult(base, cand, checks, not_applicable, warnings)


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_intermixed_args(protect_split(argv))
    except SystemExit as exc:  # argparse prints usage; usage errors are exit 2
        return EXIT_USAGE if exc.code else EXIT_PASS
    base_dirs, cand_dirs = split_dirs(args.dirs)
    rules = load_rules(args.rules)
    if args.inconclusive is not None:
        rules = replace(rules, inconclusive=args.inconclusive)
    result = run_gate(base_dirs, cand_dirs, rules, args.allow_model_change)
    header = result.header(rules)
    targets = [Path(p) for p in (os.environ.get("GITHUB_STEP_SUMMARY"), args.summary) if p]
    write_outputs(gate_render.text(result.checks, header), gate_render.markdown(result.checks, header),
                  result.checks, rules.inconclusive, args.junit, targets)
    return exit_code(result.checks, rules.inconclusive)


def write_outputs(text: str, markdown: str, checks: Sequence[Decided], policy: str, junit_path: Path | None,
                  summaries: Sequence[Path]) -> None:
    """Print the plain-text verdict and write the JUnit file and the Markdown summaries, or fail before any of it.

    Everything that can fail on a bad path is done first: the JUnit file is written to a temporary file
    beside its target and every summary file is opened for appending. Only then is the verdict printed,
    appended and the JUnit file renamed into place, so a bad path gives one error line (exit 2) and no
    verdict, no partial summary and no JUnit file.
    """
    tmp: Path | None = None
    handles: list[Any] = []
    created: list[Path] = []
    target: Path | None = None
    try:
        try:
            if junit_path is not None:
                target = junit_path
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                gate_render.junit(checks, policy).write(tmp, encoding="utf-8", xml_declaration=True)
            for target in summaries:
                existed = target.exists()
                handles.append(target.open("a", encoding="utf-8"))
                if not existed:
                    created.append(target)
        except OSError as err:
            for made in created:  # a summary file this call created stays absent, as before the call
                made.unlink(missing_ok=True)
            raise UserInputError(f"{target}: cannot write: {err.strerror or err}") from None
        print(text, end="")
        for target, fh in zip(summaries, handles, strict=True):
            try:
                fh.write(markdown + "\n")
                fh.flush()
            except OSError as err:
                raise UserInputError(f"{target}: cannot write: {err.strerror or err}") from None
        if tmp is not None and junit_path is not None:
            os.replace(tmp, junit_path)
            tmp = None
    finally:
        for fh in handles:
            fh.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
