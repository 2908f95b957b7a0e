"""The one comparison-and-verdict engine: outages first, then the margin decision on multiplicity-adjusted p-values.

The gate, compare, the report's comparisons and the terminal headline all call `judge` (the gate through
`evaluate`), so the same two arms get the same verdict everywhere.

A check is one rule in one cell. Its comparison (`evals.results.measures`) gives bounds on an additive scale;
`evals.stats.margin` turns them into FAIL / PASS / INCONCLUSIVE against the margin's edge. The p-values of
"the change is within the margin" of all checks of one gate are adjusted together (conditionalized Holm),
because the build fails when any check fails. Outages override the statistics: a candidate cell with no
successful request FAILs every check, whatever the sample size; a baseline cell with none cannot be gated
against (`BaselineOutage`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np

from evals.results.measures import GEOMEANS, QUANTILES, Measured, measure, successes
from evals.results.table import RecordTable
from evals.stats import conditionalized_holm, holm
from evals.stats.dependent import BATCHES
from evals.stats.gate import Direction, MarginKind, Verdict
from evals.stats.margin import Outage, Uncertainty, decide, level_grid, margin_edge, outage, p_beyond

Records = RecordTable
Cell = TypeVar("Cell", bound=Hashable)
CLOUD_TIGHT_MARGIN = 0.15  # latency margins below this need several runs per arm on a cloud target


class BaselineOutage(ValueError):
    """The baseline has no successful request in a cell: there is nothing to compare against."""

    def __init__(self, cell: Hashable, n: int) -> None:
        label = cell.label() if hasattr(cell, "label") else str(cell)
        super().__init__(f"baseline has no successful request in cell {label} ({n} requests): "
                         "it cannot serve as a baseline")
        self.cell = cell


@dataclass(frozen=True)
class CheckSpec:
    """One rule, as the decision needs it."""

    name: str
    metric: str
    margin: float
    margin_kind: MarginKind
    direction: Direction
    alpha: float
    suites: tuple[str, ...] | None = None

    @property
    def native_kind(self) -> MarginKind:
        ratio = self.metric in QUANTILES or self.metric in GEOMEANS
        return MarginKind.RELATIVE if ratio else MarginKind.ABSOLUTE


@dataclass(frozen=True)
class Decided:
    """One check, decided, with everything a report shows about it."""

    spec: CheckSpec
    cell: Hashable
    measured: Measured
    verdict: Verdict
    reason: str
    p: float
    p_adjusted: float
    worse_bound: float  # additive scale: log ratio or difference
    edge: float  # the margin's edge on the same scale

    @property
    def ratio(self) -> bool:
        return self.spec.native_kind is MarginKind.RELATIVE

    def shown(self, v: float) -> float:
        """A value on the additive scale as shown: the ratio for ratio metrics, the difference otherwise."""
        return math.exp(v) if self.ratio and not math.isnan(v) else v


def edge_of(spec: CheckSpec, base_value: float) -> float:
    """The margin's edge on the comparison's own scale; an absolute margin on a ratio metric (50 ms) or a
    relative one on a difference (5 % of baseline accuracy) is converted with the baseline's value."""
    if spec.margin_kind is spec.native_kind:
        return margin_edge(spec.margin, spec.direction, spec.margin_kind)
    if not math.isfinite(base_value) or base_value <= 0:
        return math.nan
    if spec.native_kind is MarginKind.RELATIVE:
        return margin_edge(spec.margin / base_value, spec.direction, MarginKind.RELATIVE)
    return margin_edge(spec.margin * base_value, spec.direction, MarginKind.ABSOLUTE)


class Family(StrEnum):
    """Which checks share one Holm adjustment.

    ALL: every check of the call, conditionalized Holm (the gate: the build fails when any check fails, so the
    family-wise error of the whole gate is what matters; a check far inside its margin, p > 0.5, leaves the
    family instead of dividing alpha: `evals.stats.conditionalized_holm`). PER_METRIC, plain Holm: the cells of
    one metric (compare, the report's comparisons and the terminal headline: each metric answers its own
    question across the cells of one pair of arms, so the same two arms get the same verdict whichever other
    metrics a command shows).
    """

    ALL = "all"
    PER_METRIC = "per-metric"


def evaluate(specs: Sequence[CheckSpec], cells: Mapping[Cell, tuple[Records, Records]], min_runs: int = 3,
             batches: int = BATCHES) -> tuple[list[Decided], list[tuple[CheckSpec, Cell]]]:
    """The gate: every check in one (conditionalized Holm) family; a baseline cell without a successful
    request is bad input."""
    return judge(specs, cells, min_runs=min_runs, batches=batches, family=Family.ALL, baseline_outage="raise")


def judge(specs: Sequence[CheckSpec], cells: Mapping[Cell, tuple[Records, Records]], *, min_runs: int = 3,
          batches: int = BATCHES, family: Family = Family.PER_METRIC, baseline_outage: str = "report"
          ) -> tuple[list[Decided], list[tuple[CheckSpec, Cell]]]:
    """The one comparison-and-verdict engine: decide every spec in every cell it applies to.

    Returns the decided checks (in spec order, then cell order) and the (spec, cell) pairs with no values in
    either arm. `baseline_outage="raise"` raises `BaselineOutage` for a baseline cell without a successful
    request; "report" decides its checks INCONCLUSIVE with the reason (compare and the report show it).
    """
    outages: dict[Cell, Outage] = {}
    for cell, (base, cand) in cells.items():
        outages[cell] = outage(successes(base), successes(cand))
        if outages[cell] is Outage.BASELINE and baseline_outage == "raise":
            raise BaselineOutage(cell, len(base))
    cache: dict[tuple[str, float, Cell], Measured] = {}
    pending: list[tuple[CheckSpec, Cell, Measured, float, float]] = []
    not_applicable: list[tuple[CheckSpec, Cell]] = []
    for spec in specs:
        for cell, (base, cand) in cells.items():
            if spec.suites is not None and getattr(cell, "suite", None) not in spec.suites:
                continue
            key = (spec.metric, spec.alpha, cell)
            if key not in cache:
                cache[key] = measure(spec.metric, base, cand, level_grid(spec.alpha), min_runs, batches)
            m = cache[key]
            if not m.applicable:
                not_applicable.append((spec, cell))
                continue
            edge = edge_of(spec, m.base_value)
            p = p_beyond(m.bounds, edge, spec.direction) if not math.isnan(edge) else math.nan
            pending.append((spec, cell, m, edge, p))
    adjusted = _adjust([p for *_, p in pending], [spec.name if family is Family.PER_METRIC else ""
                                                    for spec, *_ in pending], family)
    checks = [_decide_one(spec, cell, m, edge, p, p_adj, outages[cell])
              for (spec, cell, m, edge, p), p_adj in zip(pending, adjusted, strict=True)]
    return checks, not_applicable


def _adjust(pvalues: Sequence[float], groups: Sequence[str], family: Family) -> list[float]:
    """Adjust the p-values of each group (family) separately, keeping their order."""
    adjust = conditionalized_holm if family is Family.ALL else holm
    out = [math.nan] * len(pvalues)
    for group in dict.fromkeys(groups):
        idx = [i for i, g in enumerate(groups) if g == group]
        for i, p_adj in zip(idx, adjust(np.array([pvalues[i] for i in idx], dtype=float)), strict=True):
            out[i] = float(p_adj)
    return out


def _decide_one(spec: CheckSpec, cell: Hashable, m: Measured, edge: float, p: float, p_adj: float,
                cell_outage: Outage) -> Decided:
    if cell_outage is Outage.BASELINE:
        return Decided(spec, cell, m, Verdict.INCONCLUSIVE, "outage: the baseline has no successful request in "
                       "this cell", p, p_adj, math.nan, edge)
    if cell_outage is Outage.CANDIDATE:
        return Decided(spec, cell, m, Verdict.FAIL, "outage: the candidate has no successful request in this "
                       "cell", p, p_adj, math.nan, edge)
    if math.isnan(edge):
        return Decided(spec, cell, m, Verdict.INCONCLUSIVE, "margin cannot be converted: baseline value is zero "
                       "or missing", p, p_adj, math.nan, edge)
    mv = decide(m.bounds, edge, spec.direction, spec.alpha, p_adj)
    return Decided(spec, cell, m, mv.verdict, mv.reason, p, p_adj, mv.worse_bound, edge)


def overall(checks: Sequence[Decided]) -> Verdict:
    verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE if Verdict.INCONCLUSIVE in verdicts else Verdict.PASS


def has_outage(checks: Sequence[Decided]) -> bool:
    return any(c.reason.startswith("outage") for c in checks)


def exit_code(checks: Sequence[Decided], policy: str) -> int:
    """0 pass, 1 fail, 3 inconclusive; `policy` maps inconclusive to pass or fail. An outage is a FAIL, so no
    policy lets it exit 0."""
    verdict = overall(checks)
    if verdict is Verdict.FAIL:
        return 1
    if verdict is Verdict.INCONCLUSIVE:
        return {"pass": 0, "fail": 1}.get(policy, 3)
    return 0


def uncertainty_used(checks: Sequence[Decided]) -> list[str]:
    """The distinct methods behind the verdicts' uncertainty, for the summary line."""
    seen: list[str] = []
    for c in checks:
        u = c.measured.bounds.uncertainty
        if isinstance(u, Uncertainty) and u.value not in seen:
            seen.append(u.value)
    return seen


def cloud_margin_warnings(specs: Sequence[CheckSpec], runs_per_arm: tuple[int, int], cloud: bool) -> list[str]:
    """One run per arm on a cloud target measures one stretch of weather per arm: between-run drift of
    several percent is invisible to any within-run interval, so a tight latency margin is not supported."""
    if not cloud or min(runs_per_arm) >= 3:
        return []
    tight = [s.name for s in specs if s.native_kind is MarginKind.RELATIVE and s.margin_kind is MarginKind.RELATIVE
             and s.margin < CLOUD_TIGHT_MARGIN]
    if not tight:
        return []
    return [f"{min(runs_per_arm)} run(s) per arm on a cloud target cannot support the margins of "
            f"{', '.join(tight)} (under {CLOUD_TIGHT_MARGIN:.0%}): between-run drift is not in a within-run "
            "interval; gate 3 or more interleaved runs per arm"]
