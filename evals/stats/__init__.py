"""Statistics for bedrock-evals: intervals, comparisons, throughput and the regression gate.

Pure functions on numpy arrays. Formulas, methods and when results are greyed out: docs/statistics.md.
"""

from .accuracy_compare import (
    McNemar,
    mcnemar_exact,
    paired_bootstrap_diff,
    paired_proportion_diff,
    proportion_diff,
)
from .gate import (
    Direction,
    MarginKind,
    Verdict,
    benjamini_hochberg,
    conditionalized_holm,
    holm,
)
from .intervals import (
    ItlSummary,
    bootstrap_mean_interval,
    clustered_mean_interval,
    itl_summary,
    min_n_for_quantile,
    percentile_interval,
    quantile_label,
    wilson_interval,
)
from .latency_compare import (
    MannWhitney,
    hodges_lehmann_shift,
    latency_ratio,
    log_geomean,
    mann_whitney_effect,
    paired_log_ratio,
    quantile_ratio_bootstrap,
    run_level_ratio,
)
from .power import mde_log_ratio, mde_proportion_diff, minimum_detectable_effect
from .results import ClusteredInterval, Comparison, Interval, Scale
from .sequential import ConfidenceSequence, empirical_bernstein_cs
from .throughput import (
    LittleCheck,
    Throughput,
    ThroughputInterval,
    Window,
    batch_means_interval,
    littles_law_check,
    mean_in_flight,
    mser5_truncation,
    steady_window,
    throughput_interval,
    window_throughput,
)

__all__ = [
    "ClusteredInterval",
    "Comparison",
    "ConfidenceSequence",
    "Direction",
    "Interval",
    "ItlSummary",
    "LittleCheck",
    "MannWhitney",
    "MarginKind",
    "McNemar",
    "Scale",
    "Throughput",
    "ThroughputInterval",
    "Verdict",
    "Window",
    "batch_means_interval",
    "benjamini_hochberg",
    "bootstrap_mean_interval",
    "clustered_mean_interval",
    "conditionalized_holm",
    "empirical_bernstein_cs",
    "hodges_lehmann_shift",
    "holm",
    "itl_summary",
    "latency_ratio",
    "littles_law_check",
    "log_geomean",
    "mann_whitney_effect",
    "mcnemar_exact",
    "mde_log_ratio",
    "mde_proportion_diff",
    "mean_in_flight",
    "min_n_for_quantile",
    "minimum_detectable_effect",
    "mser5_truncation",
    "paired_bootstrap_diff",
    "paired_log_ratio",
    "paired_proportion_diff",
    "percentile_interval",
    "proportion_diff",
    "quantile_label",
    "quantile_ratio_bootstrap",
    "run_level_ratio",
    "steady_window",
    "throughput_interval",
    "wilson_interval",
    "window_throughput",
]
