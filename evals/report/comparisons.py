"""Each region (or API, or tier) against the best one of its group, on latency and on accuracy.

Latency: ratio of geometric means with its interval (paired t on log latency when both arms ran the same items,
Welch t otherwise), Hodges-Lehmann shift, Mann-Whitney A and bootstrap ratios of p50 and p90.
Accuracy: paired by (item, repeat) on the items both arms answered; exact McNemar for 0/1 scores, paired
bootstrap otherwise. All p-values of the report form one Benjamini-Hochberg family. Every row carries its
minimum detectable effect, so "no difference" is told apart from "too few samples".
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evals.rundata import CellKey
from evals.stats import (
    benjamini_hochberg,
    hodges_lehmann_shift,
    latency_ratio,
    mann_whitney_effect,
    mde_proportion_diff,
    paired_bootstrap_diff,
    paired_log_ratio,
    paired_proportion_diff,
    quantile_ratio_bootstrap,
)

from .figures import clean, column, comparison_dict

Record = Mapping[str, Any]

ALPHA = 0.05
HL_CAP = 5000  # Hodges-Lehmann on at most this many values per arm (seeded subsample): O(m n) otherwise
QUANTILE_CAP = 1000  # p50/p90 ratio bootstraps (BCa needs a jackknife over every value) likewise
RESAMPLES = 1999
PAIRED_SHARE = 0.8  # pair latency by (item, repeat) when at least this share of each arm pairs up
RESOLUTION = {"latency": 1.10, "accuracy": 0.05}  # MDE above these: "too few samples" rather than "no difference"
DIMENSIONS = ("region", "api", "tier")


def _subsample(x: np.ndarray, cap: int, seed: int) -> np.ndarray:
    if x.size <= cap:
        return x
    return np.random.default_rng(seed).choice(x, size=cap, replace=False)


def _latency(recs: Sequence[Record]) -> np.ndarray:
    lat = column([r for r in recs if r["status"] == "ok"], "latency_ms")
    return lat[lat > 0]


ItemKey = tuple[str, int, float | None, int]


def _by_item(recs: Sequence[Record], value: str) -> dict[ItemKey, float]:
    """Successful requests' `value` keyed by what makes two arms' requests "the same item": sample, repeat,
    sweep level, and the occurrence number when merged runs repeat them (paired in run order)."""
    seen: Counter[tuple[str, int, float | None]] = Counter()
    out: dict[ItemKey, float] = {}
    for r in recs:
        v = r.get(value)
        if r["status"] != "ok" or v is None or (value == "latency_ms" and v <= 0):
            continue
        base = (str(r["sample_id"]), int(r.get("repeat") or 0), r.get("load_level"))
        out[(*base, seen[base])] = float(v)
        seen[base] += 1
    return out


def latency_row(base: Sequence[Record], other: Sequence[Record]) -> dict[str, Any]:
    """Geometric-mean ratio (paired by item when both arms ran the same items), HL shift, A, p50/p90 ratios."""
    x, y = _latency(base), _latency(other)
    bx, by = _by_item(base, "latency_ms"), _by_item(other, "latency_ms")
    common = sorted(set(bx) & set(by))
    paired = len(common) >= 2 and len(common) >= PAIRED_SHARE * max(len(bx), len(by))
    ratio = paired_log_ratio([bx[k] for k in common], [by[k] for k in common]) if paired else latency_ratio(x, y)
    out: dict[str, Any] = {"ratio": comparison_dict(ratio), "paired": paired, "pairs": len(common) if paired else 0,
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
    xs, ys = _by_item(base, "score"), _by_item(other, "score")
    if not xs and not ys:
        return None
    common = sorted(set(xs) & set(ys))
    x = np.asarray([xs[k] for k in common], dtype=float)
    y = np.asarray([ys[k] for k in common], dtype=float)
    binary = bool(np.isin(np.concatenate([x, y]), (0.0, 1.0)).all())
    comp = paired_proportion_diff(x, y) if binary else paired_bootstrap_diff(x, y)
    out = comparison_dict(comp)
    out["pairs"] = len(common)
    if binary and common and not (out["mde"] or 0) > 0:
        # no discordant pairs: the paired sd is 0 and says nothing about resolution; use the widest binomial sd
        out["mde"] = clean(mde_proportion_diff(0.5, len(common), len(common)))
        out["note"] = "; ".join(s for s in (out["note"], "MDE at p = 0.5: no discordant pairs") if s)
    out["kind"] = "accuracy" if binary else "mean score"
    if binary and common:
        out["discordant"] = {"base_only": int(np.sum((x == 1) & (y == 0))),
                             "other_only": int(np.sum((x == 0) & (y == 1)))}
    return out


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


def compare_dimension(cells: Mapping[CellKey, Sequence[Record]], dim: str) -> list[dict[str, Any]]:
    """Rows comparing each level of `dim` with the group's best (lowest geometric-mean latency)."""
    rows = []
    for fixed, levels in sorted(_groups(cells, dim).items()):
        geo = {lvl: (float(np.exp(np.log(lat).mean())) if (lat := _latency(recs)).size else math.inf)
               for lvl, recs in levels.items()}
        best = min(sorted(geo), key=lambda lvl: geo[lvl])
        for lvl in sorted(levels):
            if lvl == best:
                continue
            rows.append({
                "dimension": dim,
                "fixed": dict(fixed),
                "group": " / ".join(str(v) for _, v in fixed),
                "best": best,
                "other": lvl,
                "geomean_ms": {"best": clean(geo[best]), "other": clean(geo[lvl])},
                "latency": latency_row(levels[best], levels[lvl]),
                "accuracy": accuracy_row(levels[best], levels[lvl]),
            })
    return rows


def all_comparisons(cells: Mapping[CellKey, Sequence[Record]]) -> dict[str, list[dict[str, Any]]]:
    """Comparisons along every dimension with more than one level, BH-adjusted as one family."""
    out = {dim: compare_dimension(cells, dim) for dim in DIMENSIONS}
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
