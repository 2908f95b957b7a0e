"""The metric definitions and interval methods printed in every report, so no reader has to guess.

Names and formulas match docs/statistics.md and the record schema; they are never renamed.
"""

from __future__ import annotations

from evals.paths import DOCS_DIR

STATISTICS_DOC = DOCS_DIR / "statistics.md"

TIMING: tuple[tuple[str, str, str], ...] = (
    ("t_intended", "t_intended_ms", "when the scheduler meant to send the request (open loop: a pure function of "
                                    "the request index and seed)"),
    ("t_sent", "t_sent_ms", "when the first attempt left the client"),
    ("send_lag", "send_lag_ms", "t_sent − t_intended: client-side queueing; coordinated omission shows up here"),
    ("t_first_token", "t_first_token_ms", "first content delta (streaming only)"),
    ("t_done", "t_done_ms", "last byte of the response (or the error)"),
    ("e2e_latency", "latency_ms", "t_done − t_sent, retries and backoff included"),
    ("ttft", "ttft_ms", "t_first_token − t_sent (streaming only)"),
    ("tpot", "tpot_ms", "(t_done − t_first_token) / (output_tokens − 1), per request, output_tokens from the "
                        "service's usage"),
    ("ITL gaps", "itl_ms", "every gap between consecutive content deltas; summarised per request first (mean gap), "
                           "then across requests"),
    ("server_latency", "server_latency_ms", "Converse metrics.latencyMs, Invoke X-Amzn-Bedrock-Invocation-Latency, "
                                            "stream invocationMetrics"),
    ("client_overhead", "client_overhead_ms",
     "last attempt − server_latency: network, TLS, queueing and client time (retries and backoff apart)"),
    ("attempts, throttled", "attempts, throttles", "HTTP attempts per request and how many ended in a throttle; a "
                            "failed request is a record with status=error, never a wrong answer and never dropped"),
    ("tokens", "input_tokens, output_tokens", "as reported by the service, never a client-side tokenizer"),
    ("throughput", "t_done_ms, output_tokens", "output tokens (or successful requests) completed in the steady "
                                               "window / window length"),
    ("cost", "cost_usd", "model card prices × service-reported tokens; per 1k requests = total / requests × 1000; "
                         "per correct answer = total / number correct (sum of scores)"),
)

METHODS: tuple[tuple[str, str], ...] = (
    ("accuracy (0/1 scores)", "Wilson score interval over scored (successful) requests; errors are not scored and "
                              "are shown as the error rate beside it"),
    ("repeats / shared passages", "cluster-robust (CR1) standard error with cluster = item or passage, t interval "
                                  "with clusters − 1 degrees of freedom, clipped to [0, 1]"),
    ("mean of a continuous score", "BCa bootstrap (fixed seed; percentile when BCa gives NaN) up to 2,000 values; "
                                   "beyond, the plain standard-error t interval"),
    ("latency percentiles", "distribution-free order-statistic interval (scipy quantile_test); shown only when "
                            "n·min(p, 1−p) ≥ 10 (p50: n ≥ 20, p90: n ≥ 100, p99: n ≥ 1000), otherwise greyed "
                            "with the reason"),
    ("throughput", "warm-up dropped (MSER-5), drain tail cut at the last send, in each run and in each session of "
                   "a resumed run; rate = completions in all steady windows / their summed length (downtime "
                   "between sessions never counts); batch-means interval over 20 batches; Little's law check "
                   "flags a gap > 10 %"),
    ("comparison reference", "each level against a fixed reference: the first level in the run's configured "
                             "order (run.json cells), else the first in sorted order; never the best level picked "
                             "from the same data"),
    ("latency comparison", "ratio of geometric means: paired t on per-item log geometric means (repeats and runs "
                           "averaged, the item the unit) when both arms share at least 90 % of their items, Welch t "
                           "on requests otherwise; Hodges-Lehmann shift with its distribution-free interval; "
                           "Mann-Whitney A = P(other > reference); bootstrap ratios of p50 and p90 (on at most "
                           "5,000 and 1,000 values per arm, seeded subsamples)"),
    ("accuracy comparison", "paired by item (each item's scores averaged over its repeats and runs): Newcombe "
                            "interval with exact McNemar p when every averaged score is 0/1, paired bootstrap "
                            "otherwise; unpaired when the arms share too few items"),
    ("many comparisons", "Benjamini-Hochberg adjusted p-values over every comparison in the report"),
    ("minimum detectable effect", "(z₀.₉₇₅ + z₀.₈) × sd / √n ≈ 2.8 sd/√n: the smallest effect the data could "
                                  "detect at α = .05 with power .8 (accuracy without discordant items: at p = 0.5)"),
    ("verdicts", "a difference when the adjusted p < .05; otherwise \"no difference detected\" when the MDE is "
                 "within 10 % (latency) or 5 points (accuracy), and \"too few samples to tell\" when it is not"),
)


def statistics_doc() -> str | None:
    """The full statistics note when the project's docs are at hand (installed copies may lack them)."""
    try:
        return STATISTICS_DOC.read_text(encoding="utf-8")
    except OSError:
        return None
