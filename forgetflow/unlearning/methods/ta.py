"""TA, unlearning by task arithmetic (Barbulescu & Triantafillou, ICML 2024, after Ilharco et
al.'s task-vector negation): fine-tune a copy on the forget set by descent to theta_ft; the
unlearned weights are theta_0 + lambda (theta_ft - theta_0) with lambda < 0 (the paper's -3).
After every epoch of fine-tuning the edited weights are scored without disturbing training
(edit, score, restore); training stops once the edited model's mean MA is below the stopping
threshold, and the model ends with the edit that crossed it.

With `grid`, every epoch tries each lambda of the grid from the smallest |lambda| up and stops at
the first that crosses the threshold (the smallest edit that unlearns); each tried lambda's mean
and, where the stage has general text, its guard NLL (the utility half never trained on) are
logged, so the trade-off is read off the run.

Deviations from the published code (`GeorgeOctavian/selective_unlearning`, gpt_neo_av.py):
- the paper's TA first runs plain GA until the mean MA is below 0.9 when the model starts above
  it; here the edit starts from the model as given (every scenario here starts below 0.9);
- the stopping threshold defaults to the pipeline's stopping rule on the holdout
  (`stop_threshold: 0.33` is the paper's); the budget is the stage's (training.epochs);
- the edited model is scored after each epoch of fine-tuning (the paper: at each validation,
  once an epoch), not before the first step unless the model is already below the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch
from pydantic import Field

from forgetflow.lm.logprobs import mean_nll
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.stopping import drive, epoch_ended, scored
from forgetflow.unlearning.methods.stopping import stop_line as line_of
from forgetflow.unlearning.methods.terms import MethodSettings
from forgetflow.unlearning.policy import crossed, forget_mean, remaining
from forgetflow.unlearning.procedure import ProcedureContext
from forgetflow.unlearning.rows import tokenized
from forgetflow.unlearning.state import StepLog, TrainingResult

PAPER_LAMBDA = -3.0


class TaConfig(MethodSettings):
    name: Literal["ta"] = Field(
        "ta", description="TA (Barbulescu & Triantafillou, ICML 2024): fine-tune on the forget "
        "set, then subtract lambda times the change (task-vector negation)",
    )  # fmt: skip
    coefficient: float = Field(
        PAPER_LAMBDA, le=0.0, description="lambda in theta_0 + lambda (theta_ft - theta_0); "
        "negative unlearns (the paper's -3), 0 leaves theta_0",
    )  # fmt: skip
    grid: list[Annotated[float, Field(le=0.0)]] = Field(
        [], description="lambdas (each <= 0) to try at every epoch from the smallest |lambda| "
        "up, ending with the first that crosses the threshold; []: `coefficient` alone",
    )  # fmt: skip
    stop_threshold: float | None = Field(
        None, description="a fixed threshold of the mean (the paper's MA 0.33); null: the "
        "pipeline's stopping rule on the holdout (thresholds.stop)",
    )  # fmt: skip


Weights = Mapping[str, torch.Tensor]


def edited(base: Weights, tuned: Weights, coefficient: float) -> dict[str, torch.Tensor]:
    """theta_base + lambda (theta_ft - theta_base), parameter by parameter."""
    return {name: base[name] + coefficient * (tuned[name] - base[name]) for name in base}


class TaskArithmetic:
    """TA from the current weights (theta_base) with `lambdas` tried in order at each epoch's
    end: `stop` is the fine-tuning run's stop; `chosen` the lambda that crossed the line."""

    def __init__(self, context: ProcedureContext, lambdas: list[float], line: float) -> None:
        self.context, self.lambdas, self.line = context, lambdas, line
        self.metric = context.inputs.config.drive.metric
        self.base = context.weights()
        self.chosen: float | None = None
        self.guard = tokenized(
            context.tokenizer, context.inputs.guard[: context.inputs.config.drive.guard_rows]
        )

    def evaluate(self, values: dict[str, float]) -> bool:
        """Score each lambda's edit of the current weights (then restore them); True at the
        first whose mean crossed the line (its weights are then the model's)."""
        tuned = self.context.weights()
        for k, coefficient in enumerate(self.lambdas):
            self.context.set_weights(edited(self.base, tuned, coefficient))
            ledger = self.context.score()
            mean = forget_mean(ledger, self.metric)
            left = remaining(ledger, self.metric, self.context.inputs.thresholds.outliers)
            tag = "ta" if len(self.lambdas) == 1 else f"ta_lambda{k}"
            values |= {f"{tag}_forget_{self.metric}_mean": mean, f"{tag}_lambda": coefficient,
                       f"{tag}_outliers": float(len(left))}  # fmt: skip
            if self.guard[0]:
                values[f"{tag}_guard_loss"] = self.guard_loss()
            if crossed(mean, self.line, self.metric):
                self.chosen = coefficient
                return True
        self.context.set_weights(tuned)
        return False

    def guard_loss(self) -> float:
        ids, starts = self.guard
        return mean_nll(self.context.model, ids, starts, self.context.tokenizer.pad_token_id)

    def stop(self, log: StepLog) -> str:
        """After each epoch of fine-tuning: 'threshold' once an edit crossed the line."""
        if not epoch_ended(self.context, log):
            return ""
        return "threshold" if self.evaluate(log.values) else ""

    def finish(self, tuned_to_end: bool) -> None:
        """Leave the model edited: the chosen lambda's edit, or (the budget spent first) the
        last lambda's edit of the final fine-tuned weights."""
        if self.chosen is None and tuned_to_end:
            tuned = self.context.weights()
            self.chosen = self.lambdas[-1]
            self.context.set_weights(edited(self.base, tuned, self.chosen))
            self.context.score()


def task_arithmetic(
    context: ProcedureContext, lambdas: list[float], line: float, budget: Mapping[str, Any]
) -> tuple[TrainingResult, float | None]:
    """Fine-tune from the current weights (at most `budget`) until an edit crosses `line`; the
    model ends edited. Returns the fine-tuning run's result and the lambda used."""
    arithmetic = TaskArithmetic(context, lambdas, line)
    settings = drive(context, score_every=None, score_every_epochs=None)
    result = context.finetune({**budget, "drive": settings}, arithmetic.stop)
    arithmetic.finish(result.stopped_by != "threshold")
    return result, arithmetic.chosen


def lambdas_of(config: TaConfig) -> list[float]:
    return sorted(config.grid, key=abs) if config.grid else [config.coefficient]


@METHODS.register("ta", config=TaConfig, kind="procedure")
def run(config: TaConfig, context: ProcedureContext) -> TrainingResult:
    """Fine-tune, edit and score every epoch, until the edited model crosses the threshold."""
    ledger = scored(context)
    metric = context.inputs.config.drive.metric
    line = line_of(ledger, metric, context.inputs.thresholds.stop, config.stop_threshold)
    if crossed(forget_mean(ledger, metric), line, metric):
        return context.result("threshold")  # nothing to unlearn: theta_0 is below already
    result, chosen = task_arithmetic(context, lambdas_of(config), line, {})
    if chosen is not None:
        context.log({"ta_lambda": chosen})
    return context.result(result.stopped_by)
