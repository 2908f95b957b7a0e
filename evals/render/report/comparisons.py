"""Each region (or API, or tier) against a fixed reference level of its group, on latency and on accuracy.

The reference is chosen before looking at the data: the first level in the runs' configured order (run.json
`cells.regions`, `cells.apis`, `cells.tiers`), or the first in sorted order when no run configures it. (Testing
every level against the fastest one picked from the same data would bias ratios above 1 and p-values towards
"slower": the winner's curse.)

The verdicts come from the one engine (`evals.results.verdicts.judge`, margins from the rules file): each pair of
levels (reference, other) is judged over the groups both ran, each metric one Holm family, exactly as
`compare RUN... --by DIM --base REFERENCE --cand OTHER` judges it, so the report and compare cannot disagree.
Hodges-Lehmann shift, Mann-Whitney A and bootstrap p50/p90 ratios are shown beside it as descriptions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evals.results.findings import describe, finding_json
from evals.results.metrics import METRICS, pair_by_item, values_of
from evals.results.rules import Rules, load_rules, questions
from evals.results.rundata import CellKey
from evals.results.table import RecordTable
from evals.results.verdicts import Decided, judge
from evals.stats import hodges_lehmann_shift, mann_whitney_effect, quantile_ratio_bootstrap

from .figures import clean, comparison_dict

Group = tuple[tuple[str, str], ...]

HL_CAP = 5000  # Hodges-Lehmann on at most this many values per arm (seeded subsample): O(m n) otherwise
QUANTILE_CAP = 1000  # p50/p90 ratio bootstraps (BCa needs a jackknife over every value) likewise
RESAMPLES = 1999
DIMENSIONS = ("region", "api", "tier")
CONFIG_KEYS = {"region": "regions", "api": "apis", "tier": "tiers"}  # run.json `cells` lists, in configured order
LATENCY, SCORE = METRICS["latency"], METRICS["accuracy"]  # the registry's definitions


def _subsample(x: np.ndarray, cap: int, seed: int) -> np.ndarray:
    if x.size <= cap:
        return x
    return np.random.default_rng(seed).choice(x, size=cap, replace=False)


def _latency(table: RecordTable) -> np.ndarray:
    """The registry's latency values: successful requests, positive latency, in table order."""
    return values_of(LATENCY, table)


def _paired(d: Decided) -> tuple[bool, int]:
    paired = d.measured.unit.startswith("items")
    return paired, (d.measured.bounds.n_base if paired else 0)


def latency_row(base: RecordTable, other: RecordTable, decided: Decided | None) -> dict[str, Any]:
    """The engine's geometric-mean ratio and verdict, with HL shift, A and p50/p90 ratios as descriptions."""
    x, y = _latency(base), _latency(other)
    paired, pairs = _paired(decided) if decided is not None else (False, 0)
    out: dict[str, Any] = {"ratio": finding_json(decided) if decided is not None else None, "paired": paired,
                           "pairs": pairs, "hodges_lehmann_ms": None, "mann_whitney_a": None, "p50_ratio": None,
                           "p90_ratio": None}
    if min(x.size, y.size) == 0:
        return out
    for name, cap, compute in (
        ("hodges_lehmann_ms", HL_CAP, hodges_lehmann_shift),
        ("p50_ratio", QUANTILE_CAP, lambda a, b: quantile_ratio_bootstrap(a, b, 0.5, n_resamples=RESAMPLES)),
        ("p90_ratio", QUANTILE_CAP, lambda a, b: quantile_ratio_bootstrap(a, b, 0.9, n_resamples=RESAMPLES)),
    ):
        xs, ys = _subsample(x, cap, 1), _subsample(y, cap, 2)
        d = comparison_dict(compute(xs, ys))
        if xs.size < x.size or ys.size < y.size:
            d["note"] = "; ".join(t for t in (d["note"], f"on a seeded subsample of {cap} per arm") if t)
        out[name] = d
    out["mann_whitney_a"] = clean(mann_whitney_effect(x, y).a)
    return out


def accuracy_row(base: RecordTable, other: RecordTable, decided: Decided | None) -> dict[str, Any] | None:
    """The engine's accuracy (or mean score) difference other - reference and its verdict, with the discordant
    items of a 0/1 paired comparison."""
    if decided is None:
        return None
    out = finding_json(decided)
    paired, pairs = _paired(decided)
    item_pairs = pair_by_item(base, other, SCORE, "mean")
    binary = (item_pairs.binary if item_pairs is not None
              else _binary(np.concatenate([values_of(SCORE, base), values_of(SCORE, other)])))
    out.update(paired=paired, pairs=pairs, kind="accuracy" if binary else "mean score")
    if item_pairs is not None and item_pairs.binary:
        x, y = item_pairs.base, item_pairs.cand
        out["discordant"] = {"base_only": int(np.sum((x == 1) & (y == 0))),
                             "other_only": int(np.sum((x == 0) & (y == 1)))}
    return out


def _binary(values: np.ndarray) -> bool:
    return bool(values.size) and bool(np.isin(values, (0.0, 1.0)).all())


def _groups(cells: Mapping[CellKey, RecordTable], dim: str) -> dict[Group, dict[str, RecordTable]]:
    groups: dict[Group, dict[str, RecordTable]] = defaultdict(dict)
    for key, table in cells.items():
        fields = key._asdict()
        level = fields.pop(dim)
        groups[tuple(fields.items())][level] = table
    return {k: v for k, v in groups.items() if len(v) >= 2}


def reference_level(levels: Sequence[str], configured: Sequence[str]) -> tuple[str, str]:
    """The group's reference, fixed before looking at the data: the first configured level present in the
    group, else the first in sorted order. Returns (level, how it was chosen)."""
    present = set(levels)
    for lvl in configured:
        if lvl in present:
            return lvl, "configured order"
    return sorted(present)[0], "sorted order"


def _judge_pairs(groups: Mapping[Group, Mapping[str, RecordTable]], refs: Mapping[Group, str],
                 rules: Rules) -> dict[tuple[Any, str, str], Decided]:
    """Judge each (reference, other) pair over the groups both ran, one engine call per pair, as
    `compare --by DIM --base REFERENCE --cand OTHER` makes it. Keyed by (group, other level, metric)."""
    by_pair: dict[tuple[str, str], dict[Group, tuple[RecordTable, RecordTable]]] = defaultdict(dict)
    for fixed, levels in groups.items():
        for lvl, table in levels.items():
            if lvl != refs[fixed]:
                by_pair[(refs[fixed], lvl)][fixed] = (levels[refs[fixed]], table)
    specs = questions(rules, (LATENCY, SCORE))
    out: dict[tuple[Any, str, str], Decided] = {}
    for (_, other), cells in by_pair.items():
        decided, _ = judge(specs, cells, min_runs=rules.min_runs, batches=rules.batches)
        for d in decided:
            out[(d.cell, other, d.spec.metric)] = d
    return out


def _row(dim: str, fixed: Group, ref: tuple[str, str], lvl: str, levels: Mapping[str, RecordTable],
         decided: Mapping[tuple[Any, str, str], Decided]) -> dict[str, Any]:
    geo = {k: (float(np.exp(np.log(lat).mean())) if (lat := _latency(levels[k])).size else math.inf)
           for k in (ref[0], lvl)}
    judged = {"latency": decided.get((fixed, lvl, LATENCY.name)), "accuracy": decided.get((fixed, lvl, SCORE.name))}
    return {
        "dimension": dim, "fixed": dict(fixed), "group": " / ".join(str(v) for _, v in fixed),
        "reference": ref[0], "reference_from": ref[1], "other": lvl,
        "geomean_ms": {"reference": clean(geo[ref[0]]), "other": clean(geo[lvl])},
        "latency": latency_row(levels[ref[0]], levels[lvl], judged["latency"]),
        "accuracy": accuracy_row(levels[ref[0]], levels[lvl], judged["accuracy"]),
        "p_adjusted": {m: (clean(d.p_adjusted) if d is not None else None) for m, d in judged.items()},
        "verdict": {m: (describe(d) if d is not None else "no data") for m, d in judged.items()},
    }


def compare_dimension(cells: Mapping[CellKey, RecordTable], dim: str, configured: Sequence[str] = (),
                      rules: Rules | None = None) -> list[dict[str, Any]]:
    """Rows comparing each level of `dim` with the group's reference level (see `reference_level`)."""
    groups = dict(sorted(_groups(cells, dim).items()))
    refs = {fixed: reference_level(list(levels), configured) for fixed, levels in groups.items()}
    decided = _judge_pairs(groups, {k: v[0] for k, v in refs.items()}, rules or load_rules())
    return [_row(dim, fixed, refs[fixed], lvl, levels, decided)
            for fixed, levels in groups.items() for lvl in sorted(levels) if lvl != refs[fixed][0]]


def configured_order(infos: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each dimension's levels in the runs' configured order (run.json `cells`), runs taken by start time and
    id so the order does not depend on how the run directories were named on the command line."""
    order: dict[str, list[str]] = {dim: [] for dim in DIMENSIONS}
    for info in sorted(infos, key=lambda i: (str(i.get("started_at") or ""), str(i.get("run_id") or ""))):
        raw = info.get("cells")
        cells: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        for dim, key in CONFIG_KEYS.items():
            listed = cells.get(key)
            values: list[Any] = listed if isinstance(listed, list) else []
            for v in values:
                if isinstance(v, str) and v not in order[dim]:
                    order[dim].append(v)
    return order


def all_comparisons(cells: Mapping[CellKey, RecordTable], order: Mapping[str, Sequence[str]] | None = None,
                    rules: Rules | None = None) -> dict[str, list[dict[str, Any]]]:
    """Comparisons along every dimension with more than one level, each against its reference level
    (`order`: configured levels per dimension, see `configured_order`), judged by the shared engine."""
    order = order or {}
    rules = rules or load_rules()
    return {dim: compare_dimension(cells, dim, order.get(dim, ()), rules) for dim in DIMENSIONS}
