"""Each region (or API, or tier) against a fixed reference level of its group, on latency and on accuracy.

The reference is chosen before looking at the data: the first level in the runs' configured order (run.json
`cells.regions`, `cells.apis`, `cells.tiers`), or the first in sorted order when no run configures it. (Testing
every level against the fastest one picked from the same data would bias ratios above 1 and p-values towards
"slower": the winner's curse.)

Pairing is that of compare and gate (`evals.results.metrics.pair_by_item`): when both arms ran (nearly) the
same items, each item's values are averaged over its repeats, runs and sweep levels and the item is the unit.
Latency: ratio of geometric means with its interval (paired t on per-item log geometric means when paired,
Welch t on requests otherwise), Hodges-Lehmann shift, Mann-Whitney A and bootstrap ratios of p50 and p90.
Accuracy: exact McNemar when every item's averaged score is 0/1, paired bootstrap otherwise; unpaired (requests)
when the arms share too few items. All p-values of the report form one Benjamini-Hochberg family. Every row
carries its minimum detectable effect, so "no difference" is told apart from "too few samples".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evals.results.metrics import (
    METRICS,
    pair_by_item,
    paired_score_comparison,
    unpaired_score_comparison,
    values_of,
)
from evals.results.rundata import CellKey
from evals.stats import (
    benjamini_hochberg,
    hodges_lehmann_shift,
    latency_ratio,
    mann_whitney_effect,
    mde_proportion_diff,
    paired_log_ratio,
    quantile_ratio_bootstrap,
)

from .figures import clean, column, comparison_dict

Record = Mapping[str, Any]

ALPHA = 0.05
HL_CAP = 5000  # Hodges-Lehmann on at most this many values per arm (seeded subsample): O(m n) otherwise
QUANTILE_CAP = 1000  # p50/p90 ratio bootstraps (BCa needs a jackknife over every value) likewise
RESAMPLES = 1999
RESOLUTION = {"latency": 1.10, "accuracy": 0.05}  # MDE above these: "too few samples" rather than "no difference"
DIMENSIONS = ("region", "api", "tier")
CONFIG_KEYS = {"region": "regions", "api": "apis", "tier": "tiers"}  # run.json `cells` lists, in configured order
LATENCY, SCORE = METRICS["latency"], METRICS["accuracy"]  # which records count: compare's definitions


def _subsample(x: np.ndarray, cap: int, seed: int) -> np.ndarray:
    if x.size <= cap:
        return x
    return np.random.default_rng(seed).choice(x, size=cap, replace=False)


def _latency(recs: Sequence[Record]) -> np.ndarray:
    lat = column([r for r in recs if r["status"] == "ok"], "latency_ms")
    return lat[lat > 0]


def latency_row(base: Sequence[Record], other: Sequence[Record]) -> dict[str, Any]:
    """Geometric-mean ratio (paired by item when both arms ran the same items), HL shift, A, p50/p90 ratios."""
    x, y = _latency(base), _latency(other)
    pairs = pair_by_item(base, other, LATENCY.value, "geomean")
    paired = pairs is not None
    ratio = paired_log_ratio(pairs.base, pairs.cand) if pairs is not None else latency_ratio(x, y)
    n_pairs = len(pairs.items) if pairs is not None else 0
    out: dict[str, Any] = {"ratio": comparison_dict(ratio), "paired": paired, "pairs": n_pairs,
                           "hodges_lehmann_ms": None, "mann_whitney_a": None, "p50_ratio": None, "p90_ratio": None}
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


def accuracy_row(base: Sequence[Record], other: Sequence[Record]) -> dict[str, Any] | None:
    """Accuracy (or mean score) difference other - reference, paired by item as compare and gate pair it."""
    xs, ys = values_of(SCORE, base), values_of(SCORE, other)
    if not xs and not ys:
        return None
    pairs = pair_by_item(base, other, SCORE.value, "mean")
    if pairs is None:
        out = comparison_dict(unpaired_score_comparison(xs, ys))
        out.update(paired=False, pairs=0, kind="accuracy" if _binary(xs + ys) else "mean score")
        out["note"] = "; ".join(s for s in (out["note"], "unpaired: the arms share too few items") if s)
        return out
    x, y = pairs.base, pairs.cand
    n = len(pairs.items)
    out = comparison_dict(paired_score_comparison(pairs))
    out.update(paired=True, pairs=n)
    if pairs.binary and not (out["mde"] or 0) > 0:
        # no discordant items: the paired sd is 0 and says nothing about resolution; use the widest binomial sd
        out["mde"] = clean(mde_proportion_diff(0.5, n, n))
        out["note"] = "; ".join(s for s in (out["note"], "MDE at p = 0.5: no discordant items") if s)
    out["kind"] = "accuracy" if pairs.binary else "mean score"
    if pairs.binary:
        out["discordant"] = {"base_only": int(np.sum((x == 1) & (y == 0))),
                             "other_only": int(np.sum((x == 0) & (y == 1)))}
    return out


def _binary(values: Sequence[float]) -> bool:
    return bool(np.isin(np.asarray(values, dtype=float), (0.0, 1.0)).all())


def _verdict(metric: str, comp: Mapping[str, Any] | None, p_adj: float | None) -> str:
    """Plain words for one comparison: a difference, no detectable difference, or too few samples."""
    if comp is None:
        return "no data"
    if not comp["available"]:
        return f"too few samples: {comp['note']}"
    est, mde = comp["estimate"], comp["mde"]
    if p_adj is not None and p_adj < ALPHA:
        if metric == "latency":
            return f"{abs(est - 1) * 100:.1f} % {'slower' if est > 1 else 'faster'}"
        return f"{abs(est) * 100:.1f} points {'higher' if est > 0 else 'lower'}"
    limit = RESOLUTION[metric]
    if mde is None or (metric == "latency" and mde > limit) or (metric == "accuracy" and abs(mde) > limit):
        shown = "unknown" if mde is None else (
            f"{(mde - 1) * 100:.0f} %" if metric == "latency" else f"{mde * 100:.0f} points")
        return f"too few samples to tell (detectable: {shown})"
    shown = f"{(mde - 1) * 100:.1f} %" if metric == "latency" else f"{mde * 100:.1f} points"
    return f"no difference detected (would detect {shown})"


def _groups(cells: Mapping[CellKey, Sequence[Record]], dim: str) -> dict[tuple, dict[str, Sequence[Record]]]:
    groups: dict[tuple, dict[str, Sequence[Record]]] = defaultdict(dict)
    for key, recs in cells.items():
        fields = key._asdict()
        level = fields.pop(dim)
        groups[tuple(fields.items())][level] = recs
    return {k: v for k, v in groups.items() if len(v) >= 2}


def reference_level(levels: Sequence[str], configured: Sequence[str]) -> tuple[str, str]:
    """The group's reference, fixed before looking at the data: the first configured level present in the
    group, else the first in sorted order. Returns (level, how it was chosen)."""
    present = set(levels)
    for lvl in configured:
        if lvl in present:
            return lvl, "configured order"
    return sorted(present)[0], "sorted order"


def compare_dimension(cells: Mapping[CellKey, Sequence[Record]], dim: str,
                      configured: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows comparing each level of `dim` with the group's reference level (see `reference_level`)."""
    rows = []
    for fixed, levels in sorted(_groups(cells, dim).items()):
        geo = {lvl: (float(np.exp(np.log(lat).mean())) if (lat := _latency(recs)).size else math.inf)
               for lvl, recs in levels.items()}
        ref, chosen_by = reference_level(list(levels), configured)
        for lvl in sorted(levels):
            if lvl == ref:
                continue
            rows.append({
                "dimension": dim,
                "fixed": dict(fixed),
                "group": " / ".join(str(v) for _, v in fixed),
                "reference": ref,
                "reference_from": chosen_by,
                "other": lvl,
                "geomean_ms": {"reference": clean(geo[ref]), "other": clean(geo[lvl])},
                "latency": latency_row(levels[ref], levels[lvl]),
                "accuracy": accuracy_row(levels[ref], levels[lvl]),
            })
    return rows


def configured_order(infos: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each dimension's levels in the runs' configured order (run.json `cells`), runs taken by start time and
    id so the order does not depend on how the run directories were named on the command line."""
    order: dict[str, list[str]] = {dim: [] for dim in DIMENSIONS}
    for info in sorted(infos, key=lambda i: (str(i.get("started_at") or ""), str(i.get("run_id") or ""))):
        cells = info.get("cells") if isinstance(info.get("cells"), Mapping) else {}
        for dim, key in CONFIG_KEYS.items():
            values = cells.get(key) if isinstance(cells.get(key), list) else []
            for v in values:
                if isinstance(v, str) and v not in order[dim]:
                    order[dim].append(v)
    return order


def all_comparisons(cells: Mapping[CellKey, Sequence[Record]],
                    order: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Comparisons along every dimension with more than one level, each against its reference level
    (`order`: configured levels per dimension, see `configured_order`), BH-adjusted as one family."""
    order = order or {}
    out = {dim: compare_dimension(cells, dim, order.get(dim, ())) for dim in DIMENSIONS}
    slots: list[tuple[dict[str, Any], str]] = []
    pvals: list[float] = []
    for rows in out.values():
        for row in rows:
            for metric, comp in (("latency", row["latency"]["ratio"]), ("accuracy", row["accuracy"])):
                if comp is not None:
                    slots.append((row, metric))
                    p = comp["p_two_sided"]
                    pvals.append(np.nan if p is None else p)
    adjusted = benjamini_hochberg(pvals) if pvals else np.asarray([])
    for (row, metric), p_adj in zip(slots, adjusted, strict=True):
        row.setdefault("p_bh", {})[metric] = clean(float(p_adj))
    for rows in out.values():
        for row in rows:
            p_bh = row.setdefault("p_bh", {})
            row["verdict"] = {
                "latency": _verdict("latency", row["latency"]["ratio"], p_bh.get("latency")),
                "accuracy": _verdict("accuracy", row["accuracy"], p_bh.get("accuracy")),
            }
    return out
