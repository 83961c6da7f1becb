"""SGA, Selective Gradient Ascent (Barbulescu & Triantafillou, "To Each (Textual Sequence) Its
Own: Improving Memorized-Data Unlearning in LLMs", ICML 2024): gradient ascent, at every step,
only on the batch's samples whose latest memorization (MA) is at least gamma, always keeping the
batch's most memorized one; every sample is re-scored after each epoch; training stops when the
forget set's mean MA falls below the stopping threshold, or (the per-sample variant) when no
sample is an outlier any more (c(D_f) = 0).

The selection is the loop's generic policy (`drive.select`, `drive.select_threshold`), so a
selective NPO or SimNPO is the same drive under another loss; SGA is the method that names it
with gradient ascent and the paper's rules. With gamma 0 every sample is selected: SGA is then GA
(the paper's own GA baseline is this code with `mem_threshold = 0`).

Deviations from the published code (`GeorgeOctavian/selective_unlearning`, gpt_neo_pl.py):
- the stopping threshold defaults to the pipeline's stopping rule (the holdout's mean MA before
  unlearning, calibrated per model) rather than the fixed 0.33 calibrated on GPT-Neo's unseen
  Pile data; `stop_threshold: 0.33` is the paper's;
- under the per-sample stop gamma defaults to the outlier threshold (so every outlier is
  selected until none is left), which the paper does not have;
- the budget is the stage's (`training.epochs`; the paper's upper bound is 150 epochs), and the
  optimizer, betas and clipping are the stage's settings (the paper's preset sets Adam (0.9,
  0.98), lr 5e-5, no clipping);
- the selection acts on each optimizer step's batch (the paper's on each GPU's batch of 8);
- the stage's utility guard (drive.guard_margin) applies, which the paper does not have.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.stopping import drive, guard, scored, stop_line
from forgetflow.unlearning.methods.terms import MethodSettings
from forgetflow.unlearning.policy import crossed, forget_mean, last_step
from forgetflow.unlearning.procedure import ProcedureContext, Stop
from forgetflow.unlearning.state import StepLog, TrainingResult

PAPER_GAMMA = 0.70  # the paper's mem_threshold (MA)


class SgaConfig(MethodSettings):
    name: Literal["sga"] = Field(
        "sga", description="SGA (Barbulescu & Triantafillou, ICML 2024): gradient ascent on the "
        "still-memorized samples of each batch, re-scored every epoch",
    )  # fmt: skip
    gamma: float | Literal["outliers"] | None = Field(
        None, description="train on a batch's samples whose latest value of the drive's metric is "
        "at least this (the batch's most memorized one always); outliers: the outlier rule's "
        "threshold; null: 0.70 (the paper's, for MA) under the aggregate stop, the outlier "
        "threshold under the per-sample stop; 0: every sample (GA)",
    )  # fmt: skip
    stop: Literal["aggregate", "per_sample"] = Field(
        "aggregate", description="aggregate: stop when the forget set's mean falls below the "
        "stopping threshold; per_sample: when no forget sample is an outlier any more",
    )  # fmt: skip
    stop_threshold: float | None = Field(
        None, description="under the aggregate stop, a fixed threshold (the paper's MA 0.33); "
        "null: the pipeline's stopping rule on the holdout (thresholds.stop)",
    )  # fmt: skip


def select_threshold(config: SgaConfig, metric: str) -> float | None:
    """The drive's fixed selection threshold; None: the outlier rule's."""
    if config.gamma == "outliers" or (config.gamma is None and config.stop == "per_sample"):
        return None
    if config.gamma is None:
        if metric != "ma":
            return None  # the paper's gamma is an MA value: another metric selects its outliers
        return PAPER_GAMMA
    return config.gamma


def sga_training(config: SgaConfig, context: ProcedureContext, stops: bool) -> dict[str, Any]:
    """The stage's training settings for SGA's loop run: selection, scoring every epoch and,
    with `stops`, the loop's own stopping rule (the aggregate one on the holdout's line, or the
    per-sample one); a fixed threshold stops through `below_line`."""
    metric = context.inputs.config.drive.metric
    rules: dict[str, Any] = {"select": True, "select_threshold": select_threshold(config, metric)}
    if stops and config.stop == "per_sample":
        rules["stop_per_sample"] = True
    elif stops and config.stop_threshold is None:
        rules["stop_aggregate"] = [metric]
    return {
        "drive": drive(context, **rules, **guard(context), score_every=None, score_every_epochs=1)
    }


def below_line(context: ProcedureContext, line: float, reason: str) -> Stop:
    """A run's stop: `reason` once a scoring of this step puts the forget mean below `line`."""
    metric = context.inputs.config.drive.metric

    def stop(log: StepLog) -> str:
        ledger = context.ledger
        if ledger is None or last_step(ledger) != log.step:
            return ""
        return reason if crossed(forget_mean(ledger, metric), line, metric) else ""

    return stop


@METHODS.register("sga", config=SgaConfig, kind="procedure")
def run(config: SgaConfig, context: ProcedureContext) -> TrainingResult:
    """One loop run of gradient ascent under SGA's selection and stop."""
    ledger = scored(context)
    metric = context.inputs.config.drive.metric
    stop = None
    if config.stop == "aggregate" and config.stop_threshold is not None:
        line = stop_line(ledger, metric, context.inputs.thresholds.stop, config.stop_threshold)
        stop = below_line(context, line, "aggregate")
    ascent = GradAscentConfig(antisample_weight=config.antisample_weight)
    result = context.train(ascent, sga_training(config, context, stops=True), stop)
    return context.result(result.stopped_by)
