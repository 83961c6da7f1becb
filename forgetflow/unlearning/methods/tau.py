"""TAU, task arithmetic for unlearning (Barbulescu & Triantafillou, ICML 2024): SGA until the
forget set's mean MA falls below a first threshold, then TA from the SGA weights (theta_base =
the SGA-unlearned model, lambda -1 by default) until the edited model's mean is below the
stopping threshold. SGA "standardizes the memorization distribution" (its outliers go first);
the edit then lowers the average.

The first threshold defaults to halfway between the stopping threshold and the initial mean
(stop + 0.5 (initial - stop)), which adapts the paper's fixed 0.50 (set `first_threshold: 0.5`)
to a model whose MA starts anywhere. The run logs `tau_switch_epoch` and `tau_switch_step`, when
TA took over; a run whose SGA phase spent the budget never switched (`stopped_by` says
`sga_budget`).

Deviations from the published code (gpt_neo_av.py): as SGA's and TA's (their modules); the
budget (training.steps or epochs) is shared by both phases, TA getting what SGA left.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.sga import SgaConfig, below_line, sga_training
from forgetflow.unlearning.methods.stopping import budget_left, scored
from forgetflow.unlearning.methods.stopping import stop_line as line_of
from forgetflow.unlearning.methods.ta import task_arithmetic
from forgetflow.unlearning.methods.terms import MethodSettings
from forgetflow.unlearning.policy import crossed, forget_mean
from forgetflow.unlearning.procedure import ProcedureContext
from forgetflow.unlearning.state import TrainingResult


class TauConfig(MethodSettings):
    name: Literal["tau"] = Field(
        "tau", description="TAU (Barbulescu & Triantafillou, ICML 2024): SGA, then task-vector "
        "negation from the SGA weights",
    )  # fmt: skip
    gamma: float | Literal["outliers"] = Field(
        0.70, description="SGA's selection threshold in the first phase (the paper's MA 0.70; "
        "outliers: the outlier rule's threshold)",
    )  # fmt: skip
    first_threshold: float | None = Field(
        None, description="switch to TA once the forget mean is below this (the paper's MA "
        "0.50); null: stop threshold + 0.5 x (initial mean - stop threshold)",
    )  # fmt: skip
    coefficient: float = Field(
        -1.0, le=0.0, description="TA's lambda from the SGA weights (the paper's -1)"
    )
    stop_threshold: float | None = Field(
        None, description="a fixed stopping threshold of the mean (the paper's MA 0.33); null: "
        "the pipeline's stopping rule on the holdout (thresholds.stop)",
    )  # fmt: skip


def first_line(config: TauConfig, initial: float, stop: float) -> float:
    if config.first_threshold is not None:
        return config.first_threshold
    return stop + 0.5 * (initial - stop)


@METHODS.register("tau", config=TauConfig, kind="procedure")
def run(config: TauConfig, context: ProcedureContext) -> TrainingResult:
    """SGA to the first threshold, then TA to the stopping threshold, in the stage's budget."""
    ledger = scored(context)
    metric = context.inputs.config.drive.metric
    initial = forget_mean(ledger, metric)
    stop = line_of(ledger, metric, context.inputs.thresholds.stop, config.stop_threshold)
    if crossed(initial, stop, metric):
        return context.result("threshold")
    first = first_line(config, initial, stop)
    steps, epochs, start = 0, 0.0, context.step
    if not crossed(initial, first, metric):
        sga = SgaConfig(gamma=config.gamma, antisample_weight=config.antisample_weight)
        ascent = GradAscentConfig(antisample_weight=config.antisample_weight)
        phase = context.train(ascent, sga_training(sga, context, stops=False),
                              below_line(context, first, "first_threshold"))  # fmt: skip
        if phase.stopped_by != "first_threshold":  # the budget spent, or the utility guard
            return context.result("guard" if phase.stopped_by == "guard" else "sga_budget")
        steps = context.step - start
        epochs = phase.logs[-1].values["epoch"]
    context.log({"tau_switch_epoch": epochs, "tau_switch_step": float(context.step)})
    budget = budget_left(context, steps, epochs)
    if budget is None:
        return context.result("budget")
    result, _ = task_arithmetic(context, [config.coefficient], stop, budget)
    return context.result(result.stopped_by)
