"""The headline ranks each varying dimension against its best level; checked by simulation against a known truth:
identical regions are rarely called different (the best is picked from the same data), a truly slower one is."""

from __future__ import annotations

import numpy as np

from evals.render.report.headline import lines, ranking
from evals.results.table import RecordTable, table_from_dicts

REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2")


def _records(rng: np.random.Generator, slow: dict[str, float], items: int = 120) -> RecordTable:
    """Every region runs the same items; an item's latency has its own factor (prompt length) and noise."""
    factors = np.exp(rng.normal(0, 0.3, items))
    right = rng.random(items) < 0.7
    out = []
    for region in REGIONS:
        noise = np.exp(rng.normal(0, 0.25, items))
        for i in range(items):
            out.append({"suite": "s", "region": region, "api": "converse", "tier": "default", "status": "ok",
                        "sample_id": f"q{i}", "repeat": 0, "run_id": "r", "latency_ms": 400 * factors[i] * noise[i]
                        * slow.get(region, 1.0), "score": float(right[i]), "warmup": False})
    return table_from_dicts(out)


def _p50_verdicts(table: RecordTable) -> dict[str, str]:
    (region,) = ranking(table)
    row = next(r for r in region["metrics"] if r["metric"] == "latency_p50")
    return {o["level"]: o["verdict"] for o in row["others"]}


def test_identical_regions_are_rarely_called_different() -> None:
    rng = np.random.default_rng(16)
    trials = 20
    false = sum(any(v in ("worse", "better") for v in _p50_verdicts(_records(rng, {})).values()) for _ in range(trials))
    assert false / trials <= 0.15  # Holm at .05 against the margin; the winner's curse adds a little


def test_a_slower_region_is_found_and_named() -> None:
    rng = np.random.default_rng(17)
    trials = 10
    # "worse" means worse than the 10 % margin of latency_p50: a 50 % slower region is well beyond it
    found = sum(_p50_verdicts(_records(rng, {"us-west-2": 1.5}))["us-west-2"] == "worse" for _ in range(trials))
    assert found >= 8
    (region,) = ranking(_records(rng, {"us-west-2": 1.3, "us-east-2": 0.8}))
    row = next(r for r in region["metrics"] if r["metric"] == "latency_p50")
    assert row["best"]["level"] == "us-east-2" and row["head"].startswith("us-east-2 fastest (")
    assert [o["level"] for o in row["others"]][-1] == "us-west-2"  # ranked: slowest last
    text = lines([region])
    assert text[0] == "Which region?" and text[1].startswith("  p50 latency: us-east-2 fastest (")
    accuracy = next(r for r in region["metrics"] if r["metric"] == "accuracy")
    assert accuracy["summary"] is not None and "3 points margin" in accuracy["summary"]  # same answers everywhere
