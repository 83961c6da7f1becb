"""Per-sample memorization metrics: a registry of metric families (registry.py; one module a
family group: teacher_forced.py, el.py, extract.py, or any module dropped into this package) and
`score_samples` (scoring.py), which runs the requested ones by name."""

from forgetflow.memorization.metrics.registry import (
    METRICS,
    MetricFamily,
    MetricSpec,
    ScoringRun,
    TokenScores,
    UnknownMetricError,
    direction,
    metric_forms,
    parse_metric,
    parse_metrics,
    window_tail,
)
from forgetflow.memorization.metrics.scoring import SampleScore, score_samples
from forgetflow.memorization.metrics.teacher_forced import (
    masked_mean,
    min_k_mean,
    sample_values,
    token_batches,
    token_scores,
    zlib_ratio,
)
from forgetflow.memorization.windows import ScoringInputError

__all__ = [
    "METRICS",
    "MetricFamily",
    "MetricSpec",
    "SampleScore",
    "ScoringInputError",
    "ScoringRun",
    "TokenScores",
    "UnknownMetricError",
    "direction",
    "masked_mean",
    "metric_forms",
    "min_k_mean",
    "parse_metric",
    "parse_metrics",
    "sample_values",
    "score_samples",
    "token_batches",
    "token_scores",
    "window_tail",
    "zlib_ratio",
]
