"""The metric definitions and interval methods printed in every report, so no reader has to guess.

Names and formulas match docs/statistics.md and the record schema; they are never renamed.
"""

from __future__ import annotations

from evals.paths import REPO_ROOT

STATISTICS_DOC = REPO_ROOT / "docs" / "statistics.md"

TIMING: tuple[tuple[str, str], ...] = (
    ("t_intended", "when the scheduler meant to send the request (open loop: a pure function of index and seed)"),
    ("t_sent", "when the first attempt left the client"),
    ("send_lag", "t_sent − t_intended: client-side queueing; coordinated omission shows up here"),
    ("t_first_token", "first content delta (streaming only)"),
    ("t_done", "last byte of the response (or the error)"),
    ("e2e latency", "t_done − t_sent, retries and backoff included"),
    ("TTFT", "t_first_token − t_sent (streaming only)"),
    ("TPOT", "(t_done − t_first_token) / (output_tokens − 1), per request, output_tokens from the service"),
    ("ITL", "every gap between consecutive content deltas; summarised per request first, then across requests"),
    ("server latency", "Converse metrics.latencyMs, Invoke X-Amzn-Bedrock-Invocation-Latency, stream "
                       "invocationMetrics"),
    ("client overhead", "e2e latency − server latency: network, TLS, queueing and client time"),
    ("attempts, throttled", "HTTP attempts per request and how many ended in a throttle; a failed request is a "
                            "record with status=error, never a wrong answer and never dropped"),
    ("tokens", "input and output tokens as reported by the service, never a client-side tokenizer"),
    ("throughput", "output tokens (or successful requests) completed in the steady window / window length"),
    ("cost", "model card prices × service-reported tokens; per 1k requests = total / requests × 1000; "
             "per correct answer = total / number correct (sum of scores)"),
)

METHODS: tuple[tuple[str, str], ...] = (
    ("accuracy (0/1 scores)", "Wilson score interval over scored (successful) requests; errors are not scored"),
    ("repeats / shared passages", "cluster-robust (CR1) standard error with cluster = item or passage, "
                                  "t interval with clusters − 1 degrees of freedom"),
    ("mean of a continuous score", "BCa bootstrap (fixed seed), percentile bootstrap when BCa gives NaN"),
    ("latency percentiles", "distribution-free order-statistic interval (scipy quantile_test); shown only when "
                            "n·min(p, 1−p) ≥ 10, otherwise greyed with the reason"),
    ("throughput", "warm-up dropped (configured or MSER-5), drain tail cut at the last send; batch-means "
                   "interval over 20 batches; Little's law check flags a gap > 10 %"),
    ("latency comparison", "ratio of geometric means via Welch t on log latency; Hodges-Lehmann shift with its "
                           "distribution-free interval; Mann-Whitney A = P(other > best)"),
    ("accuracy comparison", "paired by (item, repeat): Newcombe interval with exact McNemar p for 0/1 scores, "
                            "paired bootstrap otherwise"),
    ("many comparisons", "Benjamini-Hochberg adjusted p-values over every comparison in the report"),
    ("minimum detectable effect", "(z₀.₉₇₅ + z₀.₈) × sd / √n ≈ 2.8 sd/√n: the smallest effect the data could "
                                  "detect at α = .05 with power .8"),
)


def statistics_doc() -> str | None:
    """The full statistics note when the project's docs are at hand (installed copies may lack them)."""
    try:
        return STATISTICS_DOC.read_text(encoding="utf-8")
    except OSError:
        return None
