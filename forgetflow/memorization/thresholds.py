"""The two threshold rules, calibrated on non-members (the holdout) before unlearning.

- The **stopping rule** (`Thresholds.stop`, the holdout mean by default, as Jang et al.): the
  loop's aggregate stop compares the forget set's mean with it.
- The **outlier rule** (`Thresholds.outliers`, a holdout quantile by default: 0.95 leaves 95% of
  non-members on the non-memorized side, so 5% of them would be flagged): outliers, c(D_f), the
  loop's selection and per-sample stop, and verdicts. Under the mean rule half of all
  non-members would count as outliers.

Every threshold comes from the holdout's values at the ledger's first step (the model before
unlearning), so the same line judges the before and the after model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from forgetflow.memorization.metrics import direction


class ThresholdRule(BaseModel):
    """Where the non-members' values put the line between memorized and not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["mean", "quantile"] = Field(
        description="mean: the holdout's mean (Jang et al.); quantile: the holdout value with "
        "`quantile` of the non-members on the non-memorized side",
    )  # fmt: skip
    quantile: float = Field(
        0.95, gt=0.0, lt=1.0,
        description="under the quantile rule, the share of non-members left unflagged",
    )  # fmt: skip

    def threshold(self, values: Sequence[float], sign: int) -> float:
        """The line for a metric whose memorized direction is `sign` (+1: higher is more
        memorized): for sign +1 the q-quantile of `values`, for sign -1 the (1-q)-quantile."""
        if not values:
            raise ValueError("no holdout values to set a threshold with")
        if self.rule == "mean":
            return sum(values) / len(values)
        q = self.quantile if sign > 0 else 1 - self.quantile
        return float(np.quantile(np.asarray(values, dtype=float), q))

    @property
    def label(self) -> str:
        return "mean" if self.rule == "mean" else f"quantile:{self.quantile:g}"

    def describe(self, metric: str) -> str:
        """The rule in words, as a report states it."""
        side = "above" if direction(metric) > 0 else "below"
        if self.rule == "mean":
            return (f"the mean {metric} of the holdout (non-members) before unlearning; "
                    f"a sample {side} it counts as memorized")  # fmt: skip
        flagged = round(100 * (1 - self.quantile), 2)
        return (f"the {self.quantile:g} quantile of the holdout's {metric} before unlearning: "
                f"{flagged:g}% of non-members lie {side} it and would be flagged")  # fmt: skip


def stop_rule() -> ThresholdRule:
    return ThresholdRule(rule="mean")


def outlier_rule() -> ThresholdRule:
    return ThresholdRule(rule="quantile", quantile=0.95)


class Thresholds(BaseModel):
    """The stopping rule and the outlier rule, shared by the scoring summary, the loop's policy
    and the report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stop: ThresholdRule = Field(
        default_factory=stop_rule,
        description="the loop's aggregate stop: the forget mean of each `drive.stop_aggregate` "
        "metric against this line (default: the holdout mean, as the papers)",
    )  # fmt: skip
    outliers: ThresholdRule = Field(
        default_factory=outlier_rule,
        description="outliers, c(D_f), the loop's selection and per-sample stop, and verdicts "
        "(default: the holdout's 0.95 quantile, 5% of non-members flagged)",
    )  # fmt: skip

    def describe(self, metric: str, stop_metrics: Sequence[str] = ()) -> list[str]:
        """Both rules in words: the outliers of `metric`, and the stop on `stop_metrics`."""
        lines = [f"Outliers and c(D_f): {self.outliers.describe(metric)}."]
        if not stop_metrics:
            return [*lines, f"Stopping rule: not used by this run (it would be the "
                            f"{self.stop.label} of the holdout)."]  # fmt: skip
        for name in stop_metrics:
            lines.append(f"Stopping rule on {name}: the forget set's mean against "
                         f"{self.stop.describe(name)}.")  # fmt: skip
        return lines
