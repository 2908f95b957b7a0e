"""The gate's statistics checked against a known truth by small seeded simulations (bounds generous, but each
assertion fails if the method is replaced by its independent-requests version or the margin is ignored)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evals.results.table import RecordTable, table_from_dicts
from evals.results.verdicts import BaselineOutage, CheckSpec, evaluate, exit_code
from evals.stats import conditionalized_holm, effects, holm
from evals.stats.dependent import (
    mean_interval,
    mean_variance,
    paired_mean_bounds,
    quantile_bounds,
    quantile_interval,
    richardson_df,
)
from evals.stats.gate import Direction, MarginKind, Verdict
from evals.stats.margin import Bounds, Uncertainty, decide, level_grid, margin_edge, p_beyond

ALPHA = 0.05
LEVELS = level_grid(ALPHA)


def ar1(rng: np.random.Generator, runs: int, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) series with unit marginal variance, one per row."""
    e = rng.normal(0, math.sqrt(1 - phi**2), (runs, n))
    x = np.empty((runs, n))
    x[:, 0] = rng.normal(0, 1, runs)
    for j in range(1, n):
        x[:, j] = phi * x[:, j - 1] + e[:, j]
    return x


def test_batch_means_interval_covers_under_autocorrelation() -> None:
    x = ar1(np.random.default_rng(1), 300, 600, 0.9)
    covered = np.mean([(iv := mean_interval(row)).low <= 0 <= iv.high for row in x])
    naive = np.mean([abs(row.mean()) <= 1.96 * row.std(ddof=1) / math.sqrt(row.size) for row in x])
    assert naive < 0.6  # the independent-requests interval misses the truth most of the time here
    assert 0.88 <= covered <= 0.995


def test_mean_variance_is_never_below_independent() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=500)
    mv = mean_variance(x)
    assert mv.design_effect >= 1.0 and mv.variance >= x.var(ddof=1) / x.size
    assert mean_variance(ar1(rng, 1, 500, 0.95)[0]).design_effect > 3


def test_quantile_interval_covers_under_autocorrelation() -> None:
    rng = np.random.default_rng(3)
    drift = ar1(rng, 300, 600, 0.95) * 0.3
    lat = np.exp(rng.normal(0, 0.3, drift.shape) + drift)
    truth = float(np.exp(0))  # median of exp(N(0, 0.3^2 + 0.3^2)) is 1
    covered = np.mean([(iv := quantile_interval(row, 0.5)).low <= truth <= iv.high for row in lat])
    assert 0.88 <= covered <= 0.995


def test_richardson_df_matches_the_spread_of_the_extrapolated_variance() -> None:
    """Independent normal data: 2 V_B - V_2B has the Satterthwaite df 2 E^2 / Var of the formula (1.5 at B = 5)."""
    x = np.random.default_rng(11).normal(size=(20000, 400))
    for b in (5, 10):
        v_b = x.reshape(x.shape[0], b, -1).mean(axis=2).var(axis=1, ddof=1) / b
        v_2b = x.reshape(x.shape[0], 2 * b, -1).mean(axis=2).var(axis=1, ddof=1) / (2 * b)
        r = 2 * v_b - v_2b
        assert 2 * r.mean() ** 2 / r.var() == pytest.approx(richardson_df(b), rel=0.08)
    assert richardson_df(5) == pytest.approx(1.5) and richardson_df(10) == pytest.approx(1 / (4 / 9 - 3 / 19))


def test_quantile_interval_covers_slow_drift() -> None:
    """Drift with a correlation time of a sixth of the run (a 20 s drift in a 2-minute run): batches of a fifth
    of the run are correlated, and the Richardson step's variance rests on 1.5 df, not 4. With B - 1 df the
    median's interval covered 89 %; the truth here is the median of the marginal, 1."""
    rng = np.random.default_rng(12)
    drift = ar1(rng, 400, 600, math.exp(-6 / 600)) * 0.1
    lat = np.exp(rng.normal(0, 0.3, drift.shape) + drift)
    covered = np.mean([(iv := quantile_interval(row, 0.5)).low <= 1.0 <= iv.high for row in lat])
    assert 0.93 <= covered <= 0.99


def test_quantile_ratio_uses_both_arms_df_and_keeps_its_level() -> None:
    """Two arms from the same drifting process: the Welch df lies between one arm's df and the sum of both,
    and the one-sided 95 % lower bound of the log ratio is above the truth (0) at most about 5 % of the time."""
    rng = np.random.default_rng(14)
    lat = np.exp(rng.normal(0, 0.3, (400, 600)) + ar1(rng, 400, 600, 0.98) * 0.1)
    level = np.array([0.05])
    dfs, above = [], 0
    for x, y in zip(lat[:200], lat[200:], strict=True):
        df, own = effects.welch_df(x, y, 0.5, 10), [quantile_bounds(a, 0.5, level, 10).df for a in (x, y)]
        if math.isfinite(df):
            dfs.append((min(own) - 1e-9 <= df <= sum(own) + 1e-9, df > min(own)))
        above += effects.quantile_log_ratio(x, y, 0.5, level, 10).lower[0] > 0
    assert all(ok for ok, _ in dfs) and np.mean([more for _, more in dfs]) > 0.5
    assert above / 200 <= 0.08


def test_conditionalized_holm_sets_aside_checks_far_inside_the_margin() -> None:
    p = np.array([0.004, 0.9, 0.6, 0.3, np.nan])
    # kept: 0.004 and 0.3, divided by 0.5 and Holm-adjusted as a family of two; the others -> 1, NaN stays
    assert np.allclose(conditionalized_holm(p)[:4], [0.016, 1.0, 1.0, 0.6]) and np.isnan(conditionalized_holm(p)[4])
    assert holm(p)[0] == pytest.approx(0.016)  # plain Holm: four checks, 4 x 0.004


def test_conditionalized_holm_controls_the_family_wise_error() -> None:
    """Seven one-sided z-tests of "within the margin": all at the edge (uniform p), or one at the edge and six far
    inside. Family-wise error <= alpha either way; a real regression among checks far inside is caught at
    nearly alpha instead of alpha / 7."""
    rng = np.random.default_rng(13)
    z = rng.standard_normal((20000, 7))
    at_edges = stats.norm.sf(z)
    far_inside = stats.norm.sf(z + np.array([0.0, -3, -3, -3, -3, -3, -3]))
    for p in (at_edges, far_inside):
        fwer = np.mean([np.nanmin(conditionalized_holm(row)) < ALPHA for row in p[:6000]])
        assert fwer <= ALPHA + 0.008
    regression = stats.norm.sf(z[:6000] + np.array([2.5, -3, -3, -3, -3, -3, -3]))
    power = np.mean([conditionalized_holm(row)[0] < ALPHA for row in regression])
    power_holm = np.mean([holm(row)[0] < ALPHA for row in regression])
    assert power > 0.65 and power - power_holm > 0.12  # 70 % against Holm's 52 %


def _normal_bounds(est: float, se: float) -> Bounds:
    from scipy import stats

    half = stats.norm.isf(LEVELS) * se
    return Bounds(est, LEVELS, est - half, est + half, "normal", Uncertainty.BATCH_MEANS, 100, 100)


@pytest.mark.parametrize(("true_ratio", "low", "high"), [(1.10, 0.0, 0.09), (1.05, 0.0, 0.03), (1.5, 0.9, 1.0)])
def test_decision_fails_only_beyond_the_margin(true_ratio: float, low: float, high: float) -> None:
    """At the margin's edge at most alpha fail, inside it fewer, far beyond it nearly all."""
    rng = np.random.default_rng(4)
    edge = margin_edge(0.10, Direction.LOWER_IS_BETTER, MarginKind.RELATIVE)
    se = 0.04
    fails = 0
    for est in rng.normal(math.log(true_ratio), se, 400):
        b = _normal_bounds(float(est), se)
        p = p_beyond(b, edge, Direction.LOWER_IS_BETTER)
        fails += decide(b, edge, Direction.LOWER_IS_BETTER, ALPHA, p).verdict is Verdict.FAIL
    assert low <= fails / 400 <= high


def test_pass_needs_the_worse_bound_inside_the_margin() -> None:
    edge = margin_edge(0.10, Direction.LOWER_IS_BETTER, MarginKind.RELATIVE)
    tight, wide = _normal_bounds(0.0, 0.02), _normal_bounds(0.0, 0.2)
    assert decide(tight, edge, Direction.LOWER_IS_BETTER, ALPHA, 1.0).verdict is Verdict.PASS
    assert decide(wide, edge, Direction.LOWER_IS_BETTER, ALPHA, 1.0).verdict is Verdict.INCONCLUSIVE


def test_rate_difference_is_exact_at_tiny_n() -> None:
    """0/5 against 5/5 errors is decided (no minimum sample size), and a false FAIL stays under alpha."""
    b = effects.rate_difference(np.zeros(29), np.ones(29), LEVELS)
    edge = margin_edge(0.02, Direction.LOWER_IS_BETTER, MarginKind.ABSOLUTE)
    assert p_beyond(b, edge, Direction.LOWER_IS_BETTER) < 1e-3
    rng = np.random.default_rng(5)
    fails = sum(p_beyond(effects.rate_difference(rng.random(40) < 0.1, rng.random(40) < 0.12, LEVELS), edge,
                         Direction.LOWER_IS_BETTER) < ALPHA for _ in range(300))
    assert fails / 300 <= 0.05  # the true difference (2 points) is exactly the margin


def _records(latency: np.ndarray, ok: np.ndarray, scores: np.ndarray | None = None, run: str = "r") -> RecordTable:
    return table_from_dicts([{"run_id": run, "sample_id": f"i{i}", "cluster": f"p{i // 4}", "t_sent_ms": float(i) * 10,
             "status": "ok" if ok[i] else "error", "latency_ms": float(latency[i]), "throttles": 0,
             "score": (float(scores[i]) if scores is not None else 1.0) if ok[i] else None}
            for i in range(latency.size)])


SPECS = [
    CheckSpec("latency_p90", "latency_p90", 0.15, MarginKind.RELATIVE, Direction.LOWER_IS_BETTER, ALPHA),
    CheckSpec("latency_p50", "latency_p50", 0.10, MarginKind.RELATIVE, Direction.LOWER_IS_BETTER, ALPHA),
    CheckSpec("accuracy", "accuracy", 0.03, MarginKind.ABSOLUTE, Direction.HIGHER_IS_BETTER, ALPHA),
    CheckSpec("error_rate", "error_rate", 0.02, MarginKind.ABSOLUTE, Direction.LOWER_IS_BETTER, ALPHA),
]


def test_timeouts_cannot_look_faster() -> None:
    """The candidate's slowest 20 % fail fast: the survivors look faster, time-to-success is slower and FAILs."""
    rng = np.random.default_rng(6)
    base = np.exp(rng.normal(7, 0.3, 600))
    cand = np.exp(rng.normal(7, 0.3, 600))
    slow = cand > np.quantile(cand, 0.8)
    failed_fast = np.where(slow, 1.0, cand)
    checks, _ = evaluate(SPECS[:1], {"c": (_records(base, np.ones(600, bool)), _records(failed_fast, ~slow))})
    (p90,) = checks
    assert p90.measured.survivor is not None and p90.measured.survivor[1] < p90.measured.survivor[0]
    assert p90.measured.cand_value == math.inf and p90.verdict is Verdict.FAIL


def test_outages() -> None:
    lat = np.full(29, 500.0)
    ok, down = np.ones(29, bool), np.zeros(29, bool)
    checks, _ = evaluate(SPECS, {"c": (_records(lat, ok), _records(lat, down))})
    assert {c.verdict for c in checks} == {Verdict.FAIL} and exit_code(checks, "pass") == 1
    checks, _ = evaluate(SPECS, {"c": (_records(lat[:5], ok[:5]), _records(lat[:5], down[:5]))})
    assert exit_code(checks, "pass") == 1
    with pytest.raises(BaselineOutage):
        evaluate(SPECS, {"c": (_records(lat, down), _records(lat, down))})


def test_common_items_and_dropped_count() -> None:
    rng = np.random.default_rng(7)
    lat, ok = np.exp(rng.normal(6, 0.2, 200)), np.ones(200, bool)
    base, cand = _records(lat, ok), _records(lat, ok).take(np.arange(180))
    checks, _ = evaluate(SPECS[1:3], {"c": (base, cand)})
    assert all(c.measured.bounds.dropped == 20 for c in checks)
    assert all(c.measured.bounds.n_base == 180 for c in checks)


def test_accuracy_uses_cluster_robust_errors() -> None:
    """Whole passages flip between runs: the clustered test keeps its false FAIL near alpha at the margin's
    edge, while an item-level test would not."""
    rng = np.random.default_rng(8)
    spec = CheckSpec("accuracy", "accuracy", 0.0, MarginKind.ABSOLUTE, Direction.HIGHER_IS_BETTER, ALPHA)
    lat, ok = np.full(400, 500.0), np.ones(400, bool)
    fails = 0
    for _ in range(200):
        x = np.repeat(rng.random(100) < 0.8, 4).astype(float)
        y = np.repeat(rng.random(100) < 0.8, 4).astype(float)
        checks, _ = evaluate([spec], {"c": (_records(lat, ok, x), _records(lat, ok, y))})
        fails += checks[0].verdict is Verdict.FAIL
        assert checks[0].measured.bounds.uncertainty is Uncertainty.CLUSTERED
    assert fails / 200 <= 0.09


def test_one_run_per_arm_on_a_cloud_target_warns_about_tight_margins() -> None:
    from evals.results.verdicts import cloud_margin_warnings

    (warning,) = cloud_margin_warnings(SPECS, (1, 1), cloud=True)
    assert "latency_p50" in warning and "latency_p90" not in warning  # 15 % is not under 15 %
    assert "3 or more interleaved runs" in warning
    assert cloud_margin_warnings(SPECS, (3, 3), cloud=True) == []
    assert cloud_margin_warnings(SPECS, (1, 1), cloud=False) == []


def test_paired_bounds_do_not_jump_on_rounding() -> None:
    """With independent requests both send orders often sit at the floor s^2 / n, equal but for rounding:
    bounds must not switch estimator (and df) on a last-bit difference in the data."""
    levels = level_grid(ALPHA)
    for seed in range(60):
        rng = np.random.default_rng(seed)
        d = rng.normal(0.05, 0.15, 75)
        order_b, order_c = rng.permutation(75).astype(float), rng.permutation(75).astype(float)
        a = paired_mean_bounds(d, order_b, order_c, levels, 10)
        b = paired_mean_bounds(d * (1 + 1e-15), order_b, order_c, levels, 10)
        assert a.lower[0] == pytest.approx(b.lower[0], rel=1e-9), seed
