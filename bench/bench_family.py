"""Family-wise error of the gate's multiplicity adjustment: plain Holm against conditionalized Holm
(`evals.stats.conditionalized_holm`), seven one-sided z-tests of "the change is within the margin" under
several dependence structures, every true change at its margin's edge (p uniform) or far inside (z shifted by
-3). Figures for the table in docs/gate.md.

    .venv/bin/python bench/bench_family.py            # about a minute
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

from evals.stats import conditionalized_holm, holm

ALPHA, M = 0.05, 7


def correlation(kind: str) -> np.ndarray:
    c = np.eye(M)
    if kind.startswith("latency block"):
        c[:4, :4] = 0.8
        if "anti" in kind:  # one check anti-correlated with the block (cost against tokens/s)
            c[3, 4] = c[4, 3] = -0.9
            c[4, :3] = c[:3, 4] = -0.72
    elif kind == "two perfectly anti-correlated":
        c[0, 1] = c[1, 0] = -0.999
    elif kind == "equicorrelated -0.16":
        c[:] = -0.16
    np.fill_diagonal(c, 1.0)
    w, v = np.linalg.eigh(c)
    return (v * np.clip(w, 1e-9, None)) @ v.T


def any_fail(p: np.ndarray, adjust: object) -> float:
    return float(np.mean([np.nanmin(adjust(row)) < ALPHA for row in p]))  # type: ignore[operator]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=40_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| seven checks | true changes | plain Holm | conditionalized Holm |\n|---|---|---|---|")
    for kind in ("independent", "latency block 0.8", "latency block 0.8, one anti-correlated",
                 "two perfectly anti-correlated", "equicorrelated -0.16"):
        z = rng.standard_normal((args.draws, M)) @ np.linalg.cholesky(correlation(kind) + 1e-12 * np.eye(M)).T
        for where, shift in (("all at edges", np.zeros(M)), ("two at edges, five far inside",
                                                             np.array([0, 0, -3, -3, -3, -3, -3.0]))):
            p = stats.norm.sf(z + shift)
            print(f"| {kind} | {where} | {any_fail(p, holm):.1%} | {any_fail(p, conditionalized_holm):.1%} |")


if __name__ == "__main__":
    main()
