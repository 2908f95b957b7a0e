"""Tests for evals.stats: simulated coverage, known values and edge cases (the gate's decision: test_gate_stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from evals import stats as S
from evals.stats.latency_compare import _pairwise_order_stats

# ------------------------------------------------------------------------------------------ coverage


def test_wilson_coverage_p03_n200() -> None:
    rng = np.random.default_rng(20261124)
    p, n = 0.3, 200
    table = {k: S.wilson_interval(k, n) for k in range(n + 1)}
    ks = rng.binomial(n, p, size=4000)
    covered = np.array([table[k].low <= p <= table[k].high for k in ks])
    assert 0.93 <= covered.mean() <= 0.97
    # exact coverage over the binomial distribution agrees
    exact = sum(sps.binom.pmf(k, n, p) for k, iv in table.items() if iv.low <= p <= iv.high)
    assert 0.93 <= exact <= 0.97


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_order_statistic_interval_coverage_lognormal(q: float) -> None:
    rng = np.random.default_rng(7 + int(q * 10))
    n, sims, sigma = 300, 1500, 0.6
    true_q = math.exp(sigma * sps.norm.ppf(q))
    data = rng.lognormal(0.0, sigma, size=(sims, n))
    hits = 0
    for row in data:
        iv = S.percentile_interval(row, q)
        assert iv.available
        hits += iv.low <= true_q <= iv.high
    assert 0.93 <= hits / sims <= 0.985  # order-statistic intervals are exact or slightly conservative


def test_latency_ratio_coverage() -> None:
    rng = np.random.default_rng(11)
    sims, true_log = 1000, 0.1
    x = rng.lognormal(0.0, 0.4, size=(sims, 80))
    y = rng.lognormal(true_log, 0.7, size=(sims, 120))
    hits_two = hits_upper = 0
    for a, b in zip(x, y, strict=True):
        c = S.latency_ratio(a, b)
        hits_two += c.low <= math.exp(true_log) <= c.high
        hits_upper += math.exp(true_log) <= c.upper_1s
    assert 0.93 <= hits_two / sims <= 0.97
    assert 0.93 <= hits_upper / sims <= 0.97


def test_clustered_interval_covers_with_repeats_and_plain_se_does_not() -> None:
    rng = np.random.default_rng(3)
    sims, items, repeats = 600, 40, 5
    item_effect = rng.normal(0, 1.0, size=(sims, items, 1))
    scores = (item_effect + rng.normal(0, 0.5, size=(sims, items, repeats))).reshape(sims, -1)
    clusters = np.repeat(np.arange(items), repeats)
    hits_clustered = hits_plain = 0
    for row in scores:
        c = S.clustered_mean_interval(row, clusters)
        p = S.clustered_mean_interval(row)
        hits_clustered += c.low <= 0.0 <= c.high
        hits_plain += p.low <= 0.0 <= p.high
    assert c.clusters == items and c.repeats == repeats and c.n == items * repeats
    assert 0.92 <= hits_clustered / sims <= 0.975
    assert hits_plain / sims < 0.8


def test_confidence_sequence_anytime_coverage() -> None:
    rng = np.random.default_rng(5)
    p = 0.3
    paths = (rng.random((400, 600)) < p).astype(float)
    cs = S.empirical_bernstein_cs(paths, 0.95)
    covered_always = ((cs.low <= p) & (p <= cs.high)).all(axis=1)
    assert covered_always.mean() >= 0.95
    assert (cs.high[:, -1] - cs.low[:, -1]).mean() < 0.2  # and it does narrow


def test_run_level_analysis_controls_aa_false_failures_under_drift() -> None:
    rng = np.random.default_rng(17)
    sims, runs, per_run = 200, 5, 200
    request_fail = run_fail = 0
    for _ in range(sims):
        offsets = rng.normal(0, 0.08, size=(2, runs, 1))  # run-to-run drift, same for both arms in law
        lat = rng.lognormal(0.0, 0.5, size=(2, runs, per_run)) * np.exp(offsets)
        request_fail += S.latency_ratio(lat[0, 0], lat[1, 0]).p_greater < 0.05
        run_fail += S.run_level_ratio(list(lat[0]), list(lat[1])).p_greater < 0.05
    assert request_fail / sims > 0.2
    assert run_fail / sims < 0.1


# ------------------------------------------------------------------------------------------ known values


def test_wilson_known_value() -> None:
    iv = S.wilson_interval(3, 10)
    z = sps.norm.ppf(0.975)
    p, n = 0.3, 10
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert iv.low == pytest.approx(centre - half, abs=1e-9)
    assert iv.high == pytest.approx(centre + half, abs=1e-9)
    assert (round(iv.low, 4), round(iv.high, 4)) == (0.1078, 0.6032)
    assert iv.estimate == 0.3 and iv.method == "wilson"


def test_mcnemar_exact_known_table() -> None:
    r = S.mcnemar_exact(10, 2)  # 2 * P(Bin(12, .5) <= 2) = 2 * 79 / 4096
    assert r.p_two_sided == pytest.approx(158 / 4096)
    assert r.p_less == pytest.approx(79 / 4096)  # candidate less accurate
    assert S.mcnemar_exact(0, 0).p_two_sided == 1.0


def test_newcombe_unpaired_known_value() -> None:
    # Newcombe (1998), example 56/70 vs 48/80, method 10: 0.0524 to 0.3339 for p1 - p2
    c = S.proportion_diff(48, 80, 56, 70)
    assert c.estimate == pytest.approx(0.2)
    assert (round(c.low, 4), round(c.high, 4)) == (0.0524, 0.3339)


def test_paired_proportion_diff_matches_mcnemar() -> None:
    x = np.array([1] * 30 + [1] * 10 + [0] * 2 + [0] * 8)
    y = np.array([1] * 30 + [0] * 10 + [1] * 2 + [0] * 8)
    c = S.paired_proportion_diff(x, y)
    assert c.estimate == pytest.approx(-8 / 50)
    assert c.p_two_sided == pytest.approx(158 / 4096)
    assert -1 <= c.low < c.estimate < c.high <= 1
    assert c.low < c.lower_1s and c.upper_1s < c.high


def test_holm_and_bh_hand_examples() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(S.holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(S.benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(S.holm([0.5, np.nan, 0.01]), [0.5, np.nan, 0.02])
    assert S.holm([]).size == 0


def test_hodges_lehmann_recovers_shift() -> None:
    rng = np.random.default_rng(2)
    x = rng.lognormal(0, 0.5, 150)
    c = S.hodges_lehmann_shift(x, x + 3.0)
    assert c.estimate == pytest.approx(3.0)
    assert c.low <= 3.0 <= c.high
    y = rng.lognormal(0, 0.5, 200) + 0.5
    c = S.hodges_lehmann_shift(x, y)
    assert c.low < c.estimate < c.high and c.lower_1s > c.low and c.upper_1s < c.high
    assert c.p_greater == pytest.approx(sps.mannwhitneyu(y, x, alternative="greater").pvalue)


def test_pairwise_order_stats_large_matches_direct() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=2100), rng.normal(size=2100)  # 4.41e6 pairs: bisection path
    diffs = np.sort((y[None, :] - x[:, None]).ravel())
    ranks = [1, 1000, diffs.size // 2, diffs.size]
    got = _pairwise_order_stats(x, y, ranks)
    np.testing.assert_allclose(got, [diffs[r - 1] for r in ranks], rtol=0, atol=1e-9)


def test_mann_whitney_effect() -> None:
    assert S.mann_whitney_effect([1, 2, 3], [4, 5, 6]).a == 1.0
    assert S.mann_whitney_effect([1, 2], [1, 2]).a == 0.5


def test_mde_defaults() -> None:
    assert S.minimum_detectable_effect(1.0, 100) == pytest.approx(2.8 / 10, rel=0.01)
    assert S.minimum_detectable_effect(2.0, 400) == pytest.approx(2.8 * 2 / 20, rel=0.01)
    assert S.mde_proportion_diff(0.5, 100, 100) == pytest.approx(2.8 * math.sqrt(0.5 / 100), rel=0.01)
    assert S.mde_log_ratio(0.5, 0.5, 200, 200) == pytest.approx(math.exp(2.8 * 0.05), rel=0.01)
    assert math.isinf(S.minimum_detectable_effect(1.0, 0))


def test_latency_ratio_paired_and_quantile_ratio() -> None:
    rng = np.random.default_rng(8)
    base = rng.lognormal(0, 0.5, 400)
    cand = base * 1.2 * rng.lognormal(0, 0.05, 400)
    pr = S.paired_log_ratio(base, cand)
    assert pr.low < 1.2 < pr.high and pr.percent_change == pytest.approx(20, abs=1)
    ur = S.latency_ratio(base, cand)
    assert (ur.high - ur.low) > (pr.high - pr.low)  # pairing removes prompt-to-prompt spread
    qr = S.quantile_ratio_bootstrap(base, cand, 0.9, n_resamples=999)
    assert qr.available and qr.low < 1.2 < qr.high and qr.p_greater < 0.05


def test_paired_bootstrap_diff() -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 1, 200)
    c = S.paired_bootstrap_diff(x, x + 0.05 + rng.normal(0, 0.05, 200), n_resamples=1999)
    assert c.low < 0.05 < c.high and c.p_greater < 0.01 and c.method.endswith("BCa")


def test_mser5_finds_warmup_and_steady_window() -> None:
    rng = np.random.default_rng(13)
    series = np.concatenate([np.linspace(0, 10, 100), 10 + rng.normal(0, 1, 900)])
    cut = S.mser5_truncation(series)
    assert 60 <= cut <= 150 and cut % 5 == 0
    assert S.mser5_truncation(rng.normal(0, 1, 500)) <= 50
    assert S.mser5_truncation([1.0, 2.0]) == 0
    # open-loop run at 20 req/s for 100 s; completions ramp up over the first 15 s
    sent = np.arange(0, 100, 0.05)
    latency = 1.0 + 14.0 * np.clip(1 - sent / 15, 0, None) + rng.exponential(0.2, sent.size)
    w = S.steady_window(sent, sent + latency)
    assert w.warmup_method == "mser5" and 5 <= w.start <= 35 and w.end == pytest.approx(sent.max())
    assert S.steady_window(sent, sent + 1, warmup_seconds=10).start == pytest.approx(10)


def test_throughput_batch_means_and_littles_law() -> None:
    rng = np.random.default_rng(14)
    sent = np.sort(rng.uniform(0, 200, 4000))  # ~20 req/s
    latency = rng.lognormal(0, 0.3, sent.size)
    done = sent + latency
    tokens = rng.integers(50, 150, sent.size)
    w = S.Window(20.0, 180.0, "configured")
    tp = S.window_throughput(done, tokens, w.start, w.end)
    ti = S.throughput_interval(done, tokens, w)
    assert ti.requests_per_s.estimate == pytest.approx(tp.requests_per_s)
    assert ti.output_tokens_per_s.estimate == pytest.approx(tp.output_tokens_per_s)
    assert ti.requests_per_s.low < 20 < ti.requests_per_s.high
    inflight = S.mean_in_flight(sent, done, w.start, w.end)
    check = S.littles_law_check(inflight, tp.requests_per_s, float(latency.mean()))
    assert not check.flagged and check.relative_gap < 0.05
    assert S.littles_law_check(inflight, tp.requests_per_s * 1.3, float(latency.mean())).flagged
    with pytest.raises(ValueError):
        S.batch_means_interval(np.ones(100), n_batches=5)
    short = S.batch_means_interval(np.ones(5), n_batches=10)
    assert not short.available and "needs at least 10" in short.note


def test_itl_summary_per_request_first() -> None:
    # one long request with small gaps must not dominate two short slow ones
    gaps = [np.full(1000, 0.01), np.full(5, 0.1), np.full(5, 0.1), np.array([])]
    s = S.itl_summary(gaps)
    assert s.n_requests == 3 and s.skipped == 1 and s.n_gaps == 1010
    assert s.mean.estimate == pytest.approx(0.07)
    assert not s.p90.available


# ------------------------------------------------------------------------------------------ edge cases


def test_empty_inputs() -> None:
    assert not S.wilson_interval(0, 0).available
    assert not S.bootstrap_mean_interval([]).available
    assert not S.clustered_mean_interval([]).available
    assert not S.percentile_interval([], 0.5).available
    assert not S.latency_ratio([1.0], [1.0, 2.0]).available
    assert not S.hodges_lehmann_shift([], [1.0]).available
    assert not S.proportion_diff(0, 0, 1, 2).available
    assert not S.run_level_ratio([[1.0, 2.0]], [[1.0], [2.0]]).available
    with pytest.raises(ValueError):
        S.wilson_interval(3, 2)
    with pytest.raises(ValueError):
        S.latency_ratio([0.0, 1.0], [1.0, 2.0])


def test_all_equal_values() -> None:
    iv = S.bootstrap_mean_interval(np.full(30, 2.5))
    assert iv.available and iv.method == "bootstrap-percentile" and "BCa gave NaN" in iv.note
    assert iv.low == iv.high == 2.5
    c = S.clustered_mean_interval(np.ones(12), np.repeat(np.arange(4), 3))
    assert c.low == c.high == 1.0 and "zero-width" in c.note
    r = S.latency_ratio(np.full(10, 3.0), np.full(10, 3.0))
    assert not r.available and r.estimate == pytest.approx(1.0)


def test_clustered_singletons_fall_back_to_plain_se() -> None:
    x = np.random.default_rng(1).normal(size=50)
    c = S.clustered_mean_interval(x, np.arange(50))
    assert c.method == "plain-se" and c.se == pytest.approx(sps.sem(x))
    assert not S.clustered_mean_interval([1.0, 0.0], [7, 7]).available


def test_percentile_greyed_out_with_reason() -> None:
    x = np.random.default_rng(6).lognormal(size=120)
    iv = S.percentile_interval(x, 0.99)
    assert not iv.available and iv.note == "needs n >= 1000 for p99, have 120"
    assert math.isnan(iv.low) and iv.estimate == pytest.approx(np.quantile(x, 0.99))
    assert S.percentile_interval(x, 0.9).available  # 120 * 0.1 = 12 >= 10
    low_q = S.percentile_interval(x[:50], 0.1)
    assert not low_q.available and "needs n >= 100 for p10" in low_q.note
    assert S.percentile_interval(np.arange(1000.0), 0.99).available
    qr = S.quantile_ratio_bootstrap(x, x, 0.99)
    assert not qr.available and "p99" in qr.note


def test_paired_proportion_diff_coverage() -> None:
    rng = np.random.default_rng(21)
    sims, n = 1500, 150
    x = rng.random((sims, n)) < 0.7
    redraw = rng.random((sims, n)) < 0.3
    y = np.where(redraw, rng.random((sims, n)) < 0.6, x)
    true_diff = (0.7 * 0.7 + 0.3 * 0.6) - 0.7
    hits = 0
    for a, b in zip(x, y, strict=True):
        c = S.paired_proportion_diff(a.astype(float), b.astype(float))
        hits += c.low <= true_diff <= c.high
    assert 0.93 <= hits / sims <= 0.97


def _closed_loop(rng: np.random.Generator, workers: int, per_worker: int, sigma: float) -> tuple[np.ndarray, ...]:
    """Completions of a closed loop: each worker sends its next request when the previous one returns."""
    lat = rng.lognormal(np.log(0.9) - sigma**2 / 2, sigma, (workers, per_worker))  # mean 0.9 s
    done = np.cumsum(lat, axis=1)
    sent = done - lat
    return sent.ravel(), done.ravel(), float(workers / 0.9)


def test_closed_loop_rate_interval_covers_the_truth_and_stays_non_negative() -> None:
    """Simulation against a known rate (workers / mean latency): lock-step waves of completions one latency
    apart; batches of at least one mean latency keep the batch-means interval's coverage near 95 %."""
    rng = np.random.default_rng(16)
    hits, trials = 0, 200
    for _ in range(trials):
        sent, done, truth = _closed_loop(rng, 16, 60, 0.15)
        w = S.Window(5.0, float(sent.max()), "configured")
        ti = S.throughput_interval(done, np.ones_like(done), w, min_batch_s=0.9)
        hits += ti.requests_per_s.low <= truth <= ti.requests_per_s.high
    assert hits / trials >= 0.9
    # a short level (about 12 waves): batches of at least one latency still cover the known rate
    hits = 0
    for _ in range(trials):
        sent, done, truth = _closed_loop(rng, 16, 14, 0.1)
        w = S.Window(1.0, float(sent.max()), "configured")
        iv = S.throughput_interval(done, np.ones_like(done), w, min_batch_s=0.9).requests_per_s
        hits += iv.low <= truth <= iv.high
        assert iv.low >= 0
    assert hits / trials >= 0.9
    # a level shorter than 10 mean latencies has a point estimate and no interval, never a negative bound
    sent, done, _ = _closed_loop(rng, 16, 4, 0.05)
    w = S.Window(0.0, float(sent.max()), "none")
    short = S.throughput_interval(done, np.ones_like(done), w, min_batch_s=0.9)
    assert not short.requests_per_s.available and "too short" in short.requests_per_s.note
    assert short.requests_per_s.estimate > 0
    bursty = S.throughput_interval(done, np.ones_like(done), w)  # 20 tiny batches: waves make the sd huge
    assert bursty.requests_per_s.low >= 0.0
