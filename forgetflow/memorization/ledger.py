"""The memorization ledger (sample x step x metric, long format) and its thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from forgetflow.memorization.metrics import DIRECTIONS, SampleScore

LEDGER_COLUMNS = ("sample_id", "split", "step", "metric", "value")


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
    threshold: float
    sample_ids: tuple[str, ...]


def outliers(ledger: pa.Table, step: int, metric: str = "ma") -> Outliers:
    """Threshold = mean of `metric` on the holdout (non-member) set at `step` (Jang et al.)."""
    if metric not in DIRECTIONS:
        raise KeyError(f"unknown metric {metric!r}; known: {sorted(DIRECTIONS)}")
    holdout = values_at(ledger, "holdout", metric, step)
    if not holdout:
        raise ValueError(f"the ledger has no holdout {metric} at step {step}")
    threshold = sum(holdout.values()) / len(holdout)
    sign = DIRECTIONS[metric]
    forget = values_at(ledger, "forget", metric, step)
    beyond = tuple(sorted(i for i, v in forget.items() if sign * (v - threshold) > 0))
    return Outliers(metric, threshold, beyond)


def steps(ledger: pa.Table) -> list[int]:
    return sorted(set(ledger["step"].to_pylist()))


def summary(ledger: pa.Table, step: int, metric: str = "ma") -> dict[str, float]:
    """Mean of every metric per split at `step`, the threshold and the outlier count c(D_f)."""
    out: dict[str, float] = {}
    for split in sorted(set(ledger["split"].to_pylist())):
        for name in sorted(set(ledger["metric"].to_pylist())):
            values = values_at(ledger, split, name, step)
            if values:
                out[f"{split}_{name}_mean"] = sum(values.values()) / len(values)
    found = outliers(ledger, step, metric)
    out[f"{metric}_threshold"] = found.threshold
    out["outliers"] = float(len(found.sample_ids))
    return out
