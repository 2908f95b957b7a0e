"""`bedrock-evals gate`: the CI regression gate between a baseline and a candidate.

Rules (conf/gate/default.yaml or --rules FILE) name a metric, a margin and optionally a direction, alpha,
minimum samples and suites. Every rule is checked in every matched cell; the worse-side one-sided p-values
of all checks are Holm-adjusted together (the build fails if ANY check fails, so the family-wise error is
what matters), and each check is decided by `evals.stats.gate_decision`: FAIL needs significance AND an
effect beyond the margin, PASS needs the one-sided bound inside the margin, anything else is INCONCLUSIVE.

Exit codes: 0 pass, 1 regression, 2 bad input or usage, 3 inconclusive (`--inconclusive` or the rules'
`inconclusive:` policy may map inconclusive to pass or fail). See docs/gate.md.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evals import stats
from evals.compare.arms import Arm, check_comparable, load_arm, match_runs
from evals.compare.metrics import METRICS, Kind, Metric, MetricComparison, compare_metric
from evals.errors import UserInputError
from evals.paths import CONF_DIR
from evals.rundata import CellKey
from evals.stats import Direction, GateDecision, MarginKind, Scale, Verdict
from evals.untrusted import for_markdown

DEFAULT_RULES = CONF_DIR / "gate" / "default.yaml"
POLICIES = ("inconclusive", "pass", "fail")
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
SPLIT = "\x00cand\x00"  # stands in for "--" while argparse reads the directories

TOP_KEYS = {"alpha", "inconclusive", "min_samples", "min_runs", "rules"}
RULE_KEYS = {"metric", "name", "margin", "margin_kind", "direction", "alpha", "min_samples", "min_runs", "suites"}


# ---------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    name: str
    metric: Metric
    margin: float
    margin_kind: MarginKind
    direction: Direction
    alpha: float
    min_samples: int
    min_runs: int
    suites: tuple[str, ...] | None = None

    def minimum(self, result: MetricComparison) -> int:
        """Smallest n per arm before testing: runs for run-level comparisons, items or requests otherwise."""
        return self.min_runs if result.unit_of_analysis == "runs" else self.min_samples


@dataclass(frozen=True)
class Rules:
    path: Path
    alpha: float
    inconclusive: str
    min_samples: int
    min_runs: int
    rules: tuple[Rule, ...]


def _number(value: Any, where: str, low: float, high: float = math.inf, integer: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
    if ok and integer and not float(value).is_integer():
        ok = False
    if not ok:
        rng = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise UserInputError(f"{where}: must be {'an integer' if integer else 'a number'} {rng}, got {value!r}")
    return float(value)


def _choice(value: Any, where: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise UserInputError(f"{where}: must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def load_rules(path: Path | str | None = None) -> Rules:
    """Read and validate a rules file; every problem is one line naming the file and the key."""
    path = Path(path) if path is not None else DEFAULT_RULES
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserInputError(f"{path}: cannot read rules file: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise UserInputError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a rules file must be a mapping with a 'rules' list")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise UserInputError(f"{path}: {unknown[0]}: unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    alpha = _number(data.get("alpha", 0.05), f"{path}: alpha", 1e-6, 0.5)
    policy = _choice(data.get("inconclusive", "inconclusive"), f"{path}: inconclusive", POLICIES)
    min_samples = int(_number(data.get("min_samples", 30), f"{path}: min_samples", 2, integer=True))
    min_runs = int(_number(data.get("min_runs", 3), f"{path}: min_runs", 2, integer=True))
    raw = data.get("rules")
    if not isinstance(raw, list) or not raw:
        raise UserInputError(f"{path}: rules: must be a non-empty list of rules")
    rules: list[Rule] = []
    for i, item in enumerate(raw):
        key = f"{path}: rules[{i}]"
        if not isinstance(item, dict):
            raise UserInputError(f"{key}: must be a mapping with at least 'metric' and 'margin'")
        unknown = sorted(set(item) - RULE_KEYS)
        if unknown:
            raise UserInputError(f"{key}.{unknown[0]}: unknown key (known: {', '.join(sorted(RULE_KEYS))})")
        metric_name = _choice(item.get("metric"), f"{key}.metric", tuple(METRICS))
        metric = METRICS[metric_name]
        if "margin" not in item:
            raise UserInputError(f"{key}.margin: missing (the smallest change worth failing a build for)")
        margin = _number(item["margin"], f"{key}.margin", 0.0)
        kind = MarginKind(_choice(item.get("margin_kind", metric.margin_kind.value), f"{key}.margin_kind",
                                  [k.value for k in MarginKind]))
        if kind is MarginKind.RELATIVE and margin >= 1 and metric.direction is Direction.HIGHER_IS_BETTER:
            raise UserInputError(f"{key}.margin: a relative margin for a higher-is-better metric must be < 1")
        direction = Direction(_choice(item.get("direction", metric.direction.value), f"{key}.direction",
                                      [d.value for d in Direction]))
        suites = item.get("suites")
        if suites is not None and (not isinstance(suites, list) or not all(isinstance(s, str) for s in suites)):
            raise UserInputError(f"{key}.suites: must be a list of suite names")
        name = item.get("name", metric_name)
        if not isinstance(name, str) or not name:
            raise UserInputError(f"{key}.name: must be a non-empty string")
        rules.append(Rule(
            name=name, metric=metric, margin=margin, margin_kind=kind, direction=direction,
            alpha=_number(item.get("alpha", alpha), f"{key}.alpha", 1e-6, 0.5),
            min_samples=int(_number(item.get("min_samples", min_samples), f"{key}.min_samples", 2, integer=True)),
            min_runs=int(_number(item.get("min_runs", min_runs), f"{key}.min_runs", 2, integer=True)),
            suites=tuple(suites) if suites is not None else None,
        ))
    names = [r.name for r in rules]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UserInputError(f"{path}: rules: two rules are named {dup!r}; give one a 'name'")
    return Rules(path, alpha, policy, min_samples, min_runs, tuple(rules))


# ---------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """One rule in one cell, decided."""

    rule: Rule
    cell: CellKey
    result: MetricComparison
    verdict: Verdict
    reason: str
    p_adjusted: float
    bound: float
    threshold: float  # estimate value at the margin's edge, on the comparison's scale


def _native_margin(rule: Rule, result: MetricComparison) -> tuple[float, MarginKind] | None:
    """The rule's margin on the comparison's own scale (relative for ratios, absolute for differences)."""
    native = MarginKind.RELATIVE if result.comparison.scale is Scale.RATIO else MarginKind.ABSOLUTE
    if rule.margin_kind is native:
        return rule.margin, native
    base = result.base_value
    if not math.isfinite(base) or base <= 0:
        return None
    if native is MarginKind.RELATIVE:  # absolute margin (e.g. 50 ms) on a ratio metric
        return rule.margin / base, native
    return rule.margin * base, native  # relative margin (e.g. 5 % of baseline accuracy) on a difference


def evaluate(rules: Rules, cells: dict[CellKey, tuple[list[dict[str, Any]], list[dict[str, Any]]]]
             ) -> tuple[list[Check], list[tuple[Rule, CellKey]]]:
    """Decide every rule in every cell; returns the checks and the (rule, cell) pairs with no data."""
    cache: dict[tuple[str, float, CellKey], MetricComparison] = {}
    pending: list[tuple[Rule, CellKey, MetricComparison]] = []
    not_applicable: list[tuple[Rule, CellKey]] = []
    for rule in rules.rules:
        for cell, (base, cand) in cells.items():
            if rule.suites is not None and cell.suite not in rule.suites:
                continue
            key = (rule.metric.name, rule.alpha, cell)
            if key not in cache:
                cache[key] = compare_metric(rule.metric, base, cand, confidence=1 - rule.alpha)
            result = cache[key]
            if result.n_base == 0 and result.n_cand == 0:
                not_applicable.append((rule, cell))
            else:
                pending.append((rule, cell, result))

    tested = [i for i, (rule, _, r) in enumerate(pending) if min(r.n_base, r.n_cand) >= rule.minimum(r)]
    sides = {i: stats.worse_side(pending[i][2].comparison, pending[i][0].direction) for i in tested}
    adjusted = stats.holm(np.array([sides[i][0] for i in tested], dtype=float))
    p_holm = dict(zip(tested, (float(p) for p in adjusted), strict=True))

    checks: list[Check] = []
    for i, (rule, cell, result) in enumerate(pending):
        if i not in p_holm:
            checks.append(Check(rule, cell, result, Verdict.INCONCLUSIVE,
                                f"too few samples: {min(result.n_base, result.n_cand)} "
                                f"{result.unit_of_analysis} < "
                                f"{'min_runs' if result.unit_of_analysis == 'runs' else 'min_samples'} "
                                f"{rule.minimum(result)}",
                                math.nan, math.nan, math.nan))
            continue
        native = _native_margin(rule, result)
        p, bound = p_holm[i], sides[i][1]
        if native is None:
            checks.append(Check(rule, cell, result, Verdict.INCONCLUSIVE,
                                "margin cannot be converted: baseline value is zero or missing", p, bound,
                                math.nan))
            continue
        c = result.comparison
        d: GateDecision = stats.gate_decision(c.estimate, bound, p, native[0], rule.direction, rule.alpha, native[1])
        reason = d.reason if c.available or not c.note else f"{d.reason} ({c.note})"
        checks.append(Check(rule, cell, result, d.verdict, reason, p, bound, d.threshold))
    return checks, not_applicable


def overall(checks: Sequence[Check]) -> Verdict:
    verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def exit_code(verdict: Verdict, policy: str) -> int:
    if verdict is Verdict.FAIL:
        return EXIT_FAIL
    if verdict is Verdict.INCONCLUSIVE:
        return {"pass": EXIT_PASS, "fail": EXIT_FAIL}.get(policy, EXIT_INCONCLUSIVE)
    return EXIT_PASS


# ---------------------------------------------------------------------------------------------- output

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def md_escape(text: object) -> str:
    """Untrusted text (suite names, regions, paths) shown in Markdown: no HTML, no table or link syntax."""
    return for_markdown(text)


def _fmt_value(metric: Metric, v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    if metric.kind is not Kind.CONTINUOUS:
        return f"{v * 100:.1f} %"
    if metric.unit == "USD":
        return f"${v:.6f}"
    return f"{v:.1f} {metric.unit}".strip()


def _fmt_change(check: Check, v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    if check.result.comparison.scale is Scale.RATIO:
        return f"{(v - 1) * 100:+.1f} %"
    return f"{v * 100:+.1f} pts"


def _fmt_margin(rule: Rule) -> str:
    sign = "+" if rule.direction is Direction.LOWER_IS_BETTER else "-"
    if rule.margin_kind is MarginKind.RELATIVE:
        return f"{sign}{rule.margin * 100:g} %"
    if rule.metric.kind is Kind.CONTINUOUS:
        return f"{sign}{rule.margin:g} {rule.metric.unit}"
    return f"{sign}{rule.margin * 100:g} pts"


def _fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "<1e-4")


def markdown(base: Arm, cand: Arm, rules: Rules, checks: Sequence[Check],
             not_applicable: Sequence[tuple[Rule, CellKey]], warnings: Sequence[str], policy: str, code: int) -> str:
    verdict = overall(checks)
    counts = {v: sum(c.verdict is v for c in checks) for v in Verdict}
    lines = [
        f"## bedrock-evals gate: {verdict.value} (exit {code})",
        "",
        f"{counts[Verdict.FAIL]} failed, {counts[Verdict.INCONCLUSIVE]} inconclusive, {counts[Verdict.PASS]} passed "
        f"of {len(checks)} checks; Holm-adjusted one-sided tests, family alpha {rules.alpha:g}; "
        f"inconclusive policy: {policy}; rules: {md_escape(rules.path)}",
        "",
        f"- baseline: {', '.join(md_escape(r) for r in base.run_ids)}",
        f"- candidate: {', '.join(md_escape(r) for r in cand.run_ids)}",
        "",
        "| verdict | rule | cell | baseline | candidate | change | worse-side bound | margin | p (Holm) | n | reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {Verdict.FAIL: 0, Verdict.INCONCLUSIVE: 1, Verdict.PASS: 2}
    for c in sorted(checks, key=lambda c: order[c.verdict]):
        r = c.result
        lines.append(
            f"| **{c.verdict.value}** | {md_escape(c.rule.name)} | {md_escape(c.cell.label())} | "
            f"{_fmt_value(r.metric, r.base_value)} | {_fmt_value(r.metric, r.cand_value)} | "
            f"{_fmt_change(c, r.comparison.estimate)} | {_fmt_change(c, c.bound)} | {_fmt_margin(c.rule)} | "
            f"{_fmt_p(c.p_adjusted)} | {r.n_base} / {r.n_cand} {md_escape(r.unit_of_analysis)} | "
            f"{md_escape(c.reason)} |"
        )
    if not_applicable:
        lines += ["", "Not applicable (no values in either arm): " + "; ".join(
            f"{md_escape(rule.name)} in {md_escape(cell.label())}" for rule, cell in not_applicable)]
    if warnings:
        lines += ["", *[f"> warning: {md_escape(w)}" for w in warnings]]
    emulated = any(run.is_emulated for arm in (base, cand) for run in arm.runs)
    if emulated:
        lines += ["", "Requests were served by the bedrock-evals emulator, not Amazon Bedrock."]
    return "\n".join(lines) + "\n"


def _xml_text(text: object) -> str:
    return _XML_BAD.sub("\ufffd", str(text))


def junit(checks: Sequence[Check], policy: str) -> ET.ElementTree:
    """One test case per rule and cell. FAIL -> <failure>; INCONCLUSIVE -> <skipped> (a <failure> when the
    policy is 'fail', a passing case with property verdict=INCONCLUSIVE when it is 'pass')."""
    suite = ET.Element("testsuite", name="bedrock-evals gate")
    failures = skipped = 0
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=_xml_text(f"gate.{c.rule.name}"),
                             name=_xml_text(c.cell.label()))
        props = ET.SubElement(case, "properties")
        comp = c.result.comparison
        for key, value in (("verdict", c.verdict.value), ("metric", c.rule.metric.name),
                           ("estimate", comp.estimate), ("bound_worse", c.bound), ("threshold", c.threshold),
                           ("p_holm", c.p_adjusted), ("n_base", c.result.n_base), ("n_cand", c.result.n_cand),
                           ("method", comp.method)):
            ET.SubElement(props, "property", name=key, value=_xml_text(value))
        if c.verdict is Verdict.FAIL or (c.verdict is Verdict.INCONCLUSIVE and policy == "fail"):
            failures += 1
            el = ET.SubElement(case, "failure", message=_xml_text(c.reason),
                               type="regression" if c.verdict is Verdict.FAIL else "inconclusive")
            el.text = _xml_text(c.reason)
        elif c.verdict is Verdict.INCONCLUSIVE and policy == "inconclusive":
            skipped += 1
            ET.SubElement(case, "skipped", message=_xml_text(f"INCONCLUSIVE: {c.reason}"))
    suite.set("tests", str(len(checks)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites", name="bedrock-evals", tests=str(len(checks)), failures=str(failures),
                      errors="0", skipped=str(skipped))
    root.append(suite)
    return ET.ElementTree(root)


# ---------------------------------------------------------------------------------------------- CLI


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


def run_gate(base_dirs: Sequence[str], cand_dirs: Sequence[str], rules: Rules, allow_model_change: bool = False
             ) -> tuple[Arm, Arm, list[Check], list[tuple[Rule, CellKey]], list[str]]:
    """Load, check and decide; raises UserInputError on arms that cannot be gated."""
    base, cand = load_arm(base_dirs, "baseline"), load_arm(cand_dirs, "candidate")
    matched = match_runs(base, cand)
    warnings = check_comparable(base, cand, matched, strict=True, allow_model_change=allow_model_change)
    overlap = set(base.run_ids) & set(cand.run_ids)
    if overlap:
        warnings.append(f"the same run is in both arms: {', '.join(sorted(overlap))}")
    checks, not_applicable = evaluate(rules, matched.cells)
    if not checks:
        raise UserInputError(f"{rules.path}: no rule applies to these runs (no metric has values)")
    return base, cand, checks, not_applicable, warnings


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_intermixed_args(protect_split(argv))
    except SystemExit as exc:  # argparse prints usage; usage errors are exit 2
        return EXIT_USAGE if exc.code else EXIT_PASS
    base_dirs, cand_dirs = split_dirs(args.dirs)
    rules = load_rules(args.rules)
    if args.inconclusive is not None:
        rules = replace(rules, inconclusive=args.inconclusive)
    base, cand, checks, not_applicable, warnings = run_gate(base_dirs, cand_dirs, rules, args.allow_model_change)
    code = exit_code(overall(checks), rules.inconclusive)
    text = markdown(base, cand, rules, checks, not_applicable, warnings, rules.inconclusive, code)
    targets = [Path(p) for p in (os.environ.get("GITHUB_STEP_SUMMARY"), args.summary) if p]
    write_outputs(text, checks, rules.inconclusive, args.junit, targets)
    return code


def write_outputs(text: str, checks: Sequence[Check], policy: str, junit_path: Path | None,
                  summaries: Sequence[Path]) -> None:
    """Print the verdict and write the JUnit file and the summaries, or fail before any of it.

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
                junit(checks, policy).write(tmp, encoding="utf-8", xml_declaration=True)
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
                fh.write(text + "\n")
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
