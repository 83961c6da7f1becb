"""The memorization ledger (sample x step x metric, long format) and its thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forgetflow.memorization.metrics import SampleScore, direction
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.records import Figure

LEDGER_COLUMNS = ("sample_id", "split", "step", "metric", "value")
QUANTILES = (0.1, 0.5, 0.9)


def ledger_rows(scores: Sequence[SampleScore], step: int) -> pa.Table:
    """Scores of one evaluation as ledger rows."""
    rows = [(s.sample_id, s.split, step, m, v) for s in scores for m, v in s.values.items()]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in LEDGER_COLUMNS]
    return pa.table(
        {
            "sample_id": pa.array(columns[0], pa.string()),
            "split": pa.array(columns[1], pa.string()),
            "step": pa.array(columns[2], pa.int64()),
            "metric": pa.array(columns[3], pa.string()),
            "value": pa.array(columns[4], pa.float64()),
        }
    )


def append(ledger: pa.Table | None, rows: pa.Table) -> pa.Table:
    return rows if ledger is None else pa.concat_tables([ledger, rows.cast(ledger.schema)])


def values_at(ledger: pa.Table, split: str, metric: str, step: int) -> dict[str, float]:
    mask = pc.and_(
        pc.and_(pc.equal(ledger["split"], split), pc.equal(ledger["metric"], metric)),
        pc.equal(ledger["step"], step),
    )
    picked = ledger.filter(mask)
    return dict(zip(picked["sample_id"].to_pylist(), picked["value"].to_pylist(), strict=True))


@dataclass(frozen=True)
class Outliers:
    """Forget samples beyond the holdout threshold in the memorized direction of `metric`."""

    metric: str
    rule: str  # "mean" or "quantile:<q>"
    threshold: float
    sample_ids: tuple[str, ...]


def beyond(
    values: dict[str, float], threshold: float, sign: int, inclusive: bool = False
) -> tuple[str, ...]:
    """Ids whose value lies strictly beyond `threshold` in the memorized direction (or at it,
    `inclusive`)."""
    kept = (i for i, v in values.items()
            if sign * (v - threshold) > 0 or (inclusive and v == threshold))  # fmt: skip
    return tuple(sorted(kept))


def calibrated(ledger: pa.Table, metric: str, rule: ThresholdRule) -> float:
    """The threshold of `metric` under `rule`: the holdout at the ledger's first step (the model
    before unlearning), whatever step it then judges."""
    first = min(ledger["step"].to_pylist())
    holdout = values_at(ledger, "holdout", metric, first)
    if not holdout:
        raise ValueError(f"the ledger has no holdout {metric!r} at its first step to calibrate on")
    return rule.threshold(list(holdout.values()), direction(metric))


def outliers(ledger: pa.Table, step: int, metric: str, rule: ThresholdRule) -> Outliers:
    """Forget samples at `step` beyond the threshold of `metric` (calibrated before unlearning);
    c(D_f) is their count."""
    direction(metric)  # an unknown metric's name is its own error
    forget = values_at(ledger, "forget", metric, step)
    if not forget:
        raise ValueError(f"the ledger has no forget {metric!r} at step {step}")
    threshold = calibrated(ledger, metric, rule)
    return Outliers(metric, rule.label, threshold, beyond(forget, threshold, direction(metric)))


def steps(ledger: pa.Table) -> list[int]:
    return sorted(set(ledger["step"].to_pylist()))


def ledger_figures(
    ledger: pa.Table, step: int, variant: str, metric: str, rule: ThresholdRule,
    quantiles: bool = False,
) -> list[Figure]:  # fmt: skip
    """The ledger at `step` as figures of `variant`: per split and metric the mean (and the
    10/50/90% quantiles with `quantiles`); the outlier threshold of `metric` under `rule`
    (calibrated before unlearning) and c(D_f), the number of forget samples beyond it (when
    `metric` was scored at `step`: a decoded metric is not rescored after training)."""
    at = ledger.filter(pc.equal(ledger["step"], step))
    out: list[Figure] = []
    for split in sorted(set(at["split"].to_pylist())):
        for name in sorted(set(at["metric"].to_pylist())):
            values = list(values_at(at, split, name, step).values())
            if not values:
                continue
            n = len(values)
            out.append(Figure("memorization", f"{name}_mean", variant, split, sum(values) / n,
                              None, n))  # fmt: skip
            if not quantiles:
                continue
            for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True):
                label = f"{name}_p{round(q * 100)}"
                out.append(Figure("memorization", label, variant, split, float(v), None, n))
    forget = values_at(at, "forget", metric, step)
    if forget:
        found = outliers(ledger, step, metric, rule)
        out.append(Figure("memorization", f"{metric}_threshold", variant, "holdout",
                          found.threshold))  # fmt: skip
        out.append(Figure("memorization", "outliers", variant, "forget",
                          float(len(found.sample_ids)), False, len(forget)))  # fmt: skip
    return out


def beside_figures(
    before: pa.Table, other: pa.Table, variant: str, metric: str, rule: ThresholdRule
) -> list[Figure]:
    """Another model's (`variant`, e.g. the retain model; `other`: its ledger of the forget set)
    mean `metric` on the forget set and c(D_f) judged by the line calibrated on `before`'s
    holdout, the same line that counts the target's outliers before and after unlearning."""
    forget = values_at(other, "forget", metric, min(steps(other)))
    if not forget:
        raise ValueError(f"the ledger of {variant} has no forget {metric!r}")
    threshold = calibrated(before, metric, rule)
    found = beyond(forget, threshold, direction(metric))
    n = len(forget)
    return [Figure("memorization", f"{metric}_mean", variant, "forget", sum(forget.values()) / n,
                   None, n),
            Figure("memorization", "outliers", variant, "forget", float(len(found)), False,
                   n)]  # fmt: skip
