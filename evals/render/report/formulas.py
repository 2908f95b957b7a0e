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
    ("repeats / shared passages", "cluster-robust (CR1) standard error with cluster = the suite's passage, else "
                                  "the item; t interval with clusters − 1 degrees of freedom, clipped to [0, 1]"),
    ("mean of a continuous score", "BCa bootstrap (fixed seed; percentile when BCa gives NaN) up to 2,000 values; "
                                   "beyond, the plain standard-error t interval"),
    ("error rate", "Clopper-Pearson at the design-effect count: errors that cluster in time (storms) count as "
                   "fewer independent events (Kish), the design effect from batch means over send time"),
    ("percentiles (one run)", "the union of the distribution-free order-statistic interval, the same ranks widened "
                              "by the design effect of correlated requests, and sectioning over send time (batch "
                              "means with a Richardson step); shown only when n·min(p, 1−p) ≥ 10 (p50: n ≥ 20, "
                              "p90: n ≥ 100, p99: n ≥ 1000), otherwise greyed with the reason"),
    ("throughput", "warm-up dropped (MSER-5), drain tail cut at the last send, in each run and in each session of "
                   "a resumed run; rate = completions in each steady window / the windows' summed length "
                   "(downtime between sessions never counts); one run: batch means of the time-bin rates over "
                   "5 batches with a Richardson step; Little's law check flags a gap > 10 %"),
    ("three or more runs", "percentiles and throughput: pooled figure ± t(runs − 1) × the spread of the per-run "
                           "figures (log scale), so drift between runs is in the interval; within one run it cannot "
                           "be. Assumes the runs independent, e.g. interleaved in time with what they are compared "
                           "to"),
    ("comparison reference", "each level against a fixed reference: the first level in the run's configured "
                             "order (run.json cells), else the first in sorted order; never the best level picked "
                             "from the same data"),
    ("latency comparison", "the verdict engine of compare and gate: ratio of geometric means, paired by item over "
                           "the items both levels answered, variance by batch means in both send orders (Welch on "
                           "per-run figures with 3+ runs per level); Hodges-Lehmann shift, Mann-Whitney "
                           "A = P(other > reference) and bootstrap p50/p90 ratios (on at most 5,000 and 1,000 "
                           "values per level, seeded subsamples) are descriptions beside it"),
    ("accuracy comparison", "paired by item over the items both levels scored (repeats and runs averaged), "
                            "difference with a cluster-robust standard error, clusters = the suite's passages"),
    ("verdicts", "against the rules file's margin (an indifference zone): worse when the data show, at the rules' "
                 "confidence (95 % unless set), a "
                 "change beyond the margin; within the margin when the worse-side bound is inside it; inconclusive "
                 "otherwise. Holm-adjusted per metric over the cells compared, as compare does"),
)


def statistics_doc() -> str | None:
    """The full statistics note when the project's docs are at hand (installed copies may lack them)."""
    try:
        return STATISTICS_DOC.read_text(encoding="utf-8")
    except OSError:
        return None
