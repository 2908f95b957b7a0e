"""The gate's verdict as plain text (terminal), Markdown (CI step summary) and JUnit XML.

Plain text goes to the terminal: no Markdown escapes or HTML entities, control characters of untrusted
labels (suite names, regions, run ids) replaced. Markdown goes only to the step summary, every label escaped.
JUnit properties hold numbers or `n/a`, never `nan`.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from evals.results.verdicts import Decided, exit_code, overall, uncertainty_used
from evals.stats.gate import Direction, MarginKind, Verdict
from evals.untrusted import for_markdown as md_escape
from evals.untrusted import for_terminal as plain

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
UNITS = {"latency": "ms", "latency_p50": "ms", "latency_p90": "ms", "ttft_p50": "ms", "ttft_p90": "ms",
         "tokens_per_s": "tok/s", "cost_per_request": "USD"}
ORDER = {Verdict.FAIL: 0, Verdict.INCONCLUSIVE: 1, Verdict.PASS: 2}


@dataclass(frozen=True)
class Header:
    """What the verdict is about: both arms' run ids, the policy, the rules file and warnings."""

    base_runs: Sequence[str]
    cand_runs: Sequence[str]
    policy: str
    rules_path: str
    alpha: float
    warnings: Sequence[str]
    not_applicable: Sequence[str]
    emulated: bool


def value(metric: str, v: float) -> str:
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "never (failures)"
    unit = UNITS.get(metric)
    if unit is None:
        return f"{v * 100:.1f} %"
    return f"${v:.6f}" if unit == "USD" else f"{v:.1f} {unit}"


def change(c: Decided, v: float) -> str:
    """An additive-scale value as the user reads it: % for ratios, points for differences."""
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    if c.ratio:
        return f"{(math.exp(v) - 1) * 100:+.1f} %"
    return f"{v * 100:+.1f} pts"


def margin(c: Decided) -> str:
    sign = "+" if c.spec.direction is Direction.LOWER_IS_BETTER else "-"
    if c.spec.margin_kind is MarginKind.RELATIVE:
        return f"{sign}{c.spec.margin * 100:g} %"
    unit = UNITS.get(c.spec.metric)
    return f"{sign}{c.spec.margin:g} {unit}" if unit else f"{sign}{c.spec.margin * 100:g} pts"


def p_text(p: float) -> str:
    return "n/a" if not math.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "<1e-4")


def _label(cell: object) -> str:
    return cell.label() if hasattr(cell, "label") else str(cell)


def _row(c: Decided) -> list[str]:
    m, b = c.measured, c.measured.bounds
    n = f"{b.n_base}/{b.n_cand} {m.unit}" + (f", {b.dropped} dropped" if b.dropped else "")
    return [c.verdict.value, c.spec.name, _label(c.cell), value(m.metric, m.base_value),
            value(m.metric, m.cand_value), change(c, b.estimate), change(c, c.worse_bound), margin(c),
            p_text(c.p_adjusted), n, b.uncertainty.value, c.reason]


COLUMNS = ["verdict", "rule", "cell", "baseline", "candidate", "change", "worse bound", "margin", "p (adjusted)",
           "n", "uncertainty", "reason"]


def _headline(checks: Sequence[Decided], h: Header) -> tuple[str, str]:
    code = exit_code(checks, h.policy)
    counts = {v: sum(c.verdict is v for c in checks) for v in Verdict}
    return (f"bedrock-evals gate: {overall(checks).value} (exit {code})",
            f"{counts[Verdict.FAIL]} failed, {counts[Verdict.INCONCLUSIVE]} inconclusive, "
            f"{counts[Verdict.PASS]} passed of {len(checks)} checks; FAIL = worse than the margin at one-sided "
            f"confidence {1 - h.alpha:g} (conditionalized Holm across checks); inconclusive policy: {h.policy}")


def _survivors(checks: Sequence[Decided]) -> list[str]:
    out = []
    for c in checks:
        s = c.measured.survivor
        if s is not None and s != (c.measured.base_value, c.measured.cand_value) and not all(map(math.isnan, s)):
            out.append(f"{c.spec.name} in {_label(c.cell)}: successful requests only (survivors, not gated) "
                       f"{value(c.spec.metric, s[0])} -> {value(c.spec.metric, s[1])}")
    return out


def text(checks: Sequence[Decided], h: Header) -> str:
    """The terminal verdict: plain text, aligned columns, failures first."""
    title, counts = _headline(checks, h)
    rows = [COLUMNS] + [[plain(v) for v in _row(c)] for c in sorted(checks, key=lambda c: ORDER[c.verdict])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = [title, counts, f"uncertainty: {'; '.join(uncertainty_used(checks))}",
             f"baseline:  {', '.join(plain(r) for r in h.base_runs)}",
             f"candidate: {', '.join(plain(r) for r in h.cand_runs)}", f"rules: {plain(h.rules_path)}", ""]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    extra = [*(f"note: {plain(s)}" for s in _survivors(checks)),
             *(f"not applicable (no values in either arm): {plain(s)}" for s in h.not_applicable),
             *(f"warning: {plain(w)}" for w in h.warnings)]
    if h.emulated:
        extra.append("Requests were served by the bedrock-evals emulator, not Amazon Bedrock.")
    return "\n".join(lines + (["", *extra] if extra else [])) + "\n"


def markdown(checks: Sequence[Decided], h: Header) -> str:
    """The step-summary verdict: a Markdown table, every label escaped."""
    title, counts = _headline(checks, h)
    used = "; ".join(uncertainty_used(checks))
    lines = [f"## {title}", "", md_escape(counts), "", f"- uncertainty: {md_escape(used)}",
             f"- baseline: {', '.join(md_escape(r) for r in h.base_runs)}",
             f"- candidate: {', '.join(md_escape(r) for r in h.cand_runs)}",
             f"- rules: {md_escape(h.rules_path)}", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in sorted(checks, key=lambda c: ORDER[c.verdict]):
        cells = [md_escape(v) for v in _row(c)]
        cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    extra = [*(f"> note: {md_escape(s)}" for s in _survivors(checks)),
             *(f"> not applicable (no values in either arm): {md_escape(s)}" for s in h.not_applicable),
             *(f"> warning: {md_escape(w)}" for w in h.warnings)]
    if h.emulated:
        extra.append("Requests were served by the bedrock-evals emulator, not Amazon Bedrock.")
    return "\n".join(lines + (["", *extra] if extra else [])) + "\n"


def _xml(text: object) -> str:
    return _XML_BAD.sub("\ufffd", str(text))


def _num(v: float) -> str:
    return repr(round(v, 6)) if math.isfinite(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf
                                                       else "n/a")


def junit(checks: Sequence[Decided], policy: str) -> ET.ElementTree:
    """One test case per rule and cell. FAIL -> <failure>; INCONCLUSIVE -> <skipped> (a <failure> when the
    policy is 'fail', a passing case with property verdict=INCONCLUSIVE when it is 'pass')."""
    suite = ET.Element("testsuite", name="bedrock-evals gate")
    failures = skipped = 0
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=_xml(f"gate.{c.spec.name}"), name=_xml(_label(c.cell)))
        props = ET.SubElement(case, "properties")
        b = c.measured.bounds
        for key, val in (("verdict", c.verdict.value), ("metric", c.spec.metric),
                         ("estimate", _num(c.shown(b.estimate))), ("bound_worse", _num(c.shown(c.worse_bound))),
                         ("margin_edge", _num(c.shown(c.edge))), ("p_adjusted", _num(c.p_adjusted)),
                         ("p_holm", _num(c.p_adjusted)),
                         ("n_base", str(b.n_base)), ("n_cand", str(b.n_cand)), ("dropped", str(b.dropped)),
                         ("method", b.method or "n/a"), ("uncertainty", b.uncertainty.value)):
            ET.SubElement(props, "property", name=key, value=_xml(val))
        if c.verdict is Verdict.FAIL or (c.verdict is Verdict.INCONCLUSIVE and policy == "fail"):
            failures += 1
            el = ET.SubElement(case, "failure", message=_xml(c.reason),
                               type="regression" if c.verdict is Verdict.FAIL else "inconclusive")
            el.text = _xml(c.reason)
        elif c.verdict is Verdict.INCONCLUSIVE and policy == "inconclusive":
            skipped += 1
            ET.SubElement(case, "skipped", message=_xml(f"INCONCLUSIVE: {c.reason}"))
    counts = {"tests": str(len(checks)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    for k, v in counts.items():
        suite.set(k, v)
    root = ET.Element("testsuites", {"name": "bedrock-evals", **counts})
    root.append(suite)
    return ET.ElementTree(root)
