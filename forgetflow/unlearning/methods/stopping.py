"""What the seed procedures (SGA, TA, TAU, ICU) share: the line the forget set's mean must cross
(policy.crossed: the pipeline's stopping rule calibrated on the holdout, or a fixed value such as
the papers' MA 0.33), epoch ends, and the stage's drive settings with
some fields replaced for one of their loop runs."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from forgetflow.memorization.ledger import calibrated
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.unlearning.procedure import ProcedureContext
from forgetflow.unlearning.state import StepLog

# the drive's ledger rules, all off: a run that scores nothing or only by the procedure's hand
NO_RULES = {"select": False, "select_threshold": None, "weights": "uniform", "stop_aggregate": [],
            "stop_per_sample": False, "guard_margin": None}  # fmt: skip


def stop_line(ledger: pa.Table, metric: str, rule: ThresholdRule, fixed: float | None) -> float:
    """`fixed`, or the holdout's line under the stopping `rule` (before unlearning)."""
    return fixed if fixed is not None else calibrated(ledger, metric, rule)


def epoch_ended(context: ProcedureContext, log: StepLog) -> bool:
    """True when the step of `log` finished a pass over the forget set (each step draws
    min(batch_size, forget rows) of them)."""
    count = len(context.inputs.forget)
    drawn = min(context.training(None).batch_size, count) / count
    epoch = log.values["epoch"]
    return math.floor(epoch + 1e-9) > math.floor(epoch - drawn + 1e-9)


def scored(context: ProcedureContext) -> pa.Table:
    """The ledger, scored now (the holdout with it) where the stage gave none."""
    return context.ledger if context.ledger is not None else context.score()


def guard(context: ProcedureContext) -> dict[str, Any]:
    """The stage's utility guard (drive.guard_margin), for a run that trains the model it ends
    with (not TA's fine-tuning, whose weights are not the result)."""
    return {"guard_margin": context.inputs.config.drive.guard_margin}


def drive(context: ProcedureContext, **changes: Any) -> dict[str, Any]:
    """The stage's drive settings (metrics, scoring batch, precision), its ledger rules off
    (NO_RULES), with `changes` made."""
    return {**context.inputs.config.drive.model_dump(exclude_unset=True), **NO_RULES, **changes}


def budget_left(context: ProcedureContext, steps: int, epochs: float) -> dict[str, Any] | None:
    """The stage's budget (steps, epochs) less `steps` and `epochs` already spent by the
    procedure's earlier runs, as training fields; None when nothing is left."""
    config = context.inputs.config
    left: dict[str, Any] = {"steps": None, "epochs": None}
    if config.steps is not None:
        left["steps"] = config.steps - steps
    if config.epochs is not None:
        left["epochs"] = config.epochs - epochs
    if any(value is not None and value <= 0 for value in left.values()):
        return None
    return left
