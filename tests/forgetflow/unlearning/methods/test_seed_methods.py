"""The seed papers' procedures, SGA, TA and TAU, on the tiny world: each is decided against a
simpler run it must equal by construction (SGA with gamma 0 is GA; TA with lambda 0 is the
identity; TA's edit, score and restore leave fine-tuning bit-identical; TAU switching at once is
TA), and each resumes from a checkpoint to the weights of an uninterrupted run."""

from __future__ import annotations

import copy

import pytest

from forgetflow.memorization.ledger import calibrated, values_at
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.records import Sample
from forgetflow.scenarios.world.utility import general_text
from forgetflow.unlearning.config import DriveConfig, TrainingConfig
from forgetflow.unlearning.finetune import DESCENT, FinetuneConfig
from forgetflow.unlearning.inputs import LoopInputs
from forgetflow.unlearning.loop import UnlearningLoop
from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.methods.sga import SgaConfig
from forgetflow.unlearning.methods.ta import TaConfig, edited
from forgetflow.unlearning.methods.tau import TauConfig
from forgetflow.unlearning.policy import forget_mean, latest, remaining

NEVER = -1.0  # a threshold no mean MA falls below: a run spends its budget
EPOCHS = TrainingConfig(epochs=3, batch_size=4, lr=2e-3, betas=(0.9, 0.98), max_grad_norm=None)


def train(runs, method, config=EPOCHS, **options):
    return runs.train(method, config, **options)


def test_sga_with_gamma_zero_is_gradient_ascent_step_for_step(runs) -> None:
    """GA under the same drive (scored every epoch, the aggregate stop): the same rows, losses
    and weights at every step, and the same stop."""
    drive = DriveConfig(score_every_epochs=1, stop_aggregate=["ma"])
    ga, ga_weights = train(runs, GradAscentConfig(),
                           EPOCHS.model_copy(update={"drive": drive}))  # fmt: skip
    sga, sga_weights = train(runs, SgaConfig(gamma=0.0))
    pick = [(log.step, log.values["rows"], log.values["forget_loss"]) for log in ga.logs]
    assert [(log.step, log.values["rows"], log.values["forget_loss"]) for log in sga.logs] == pick
    assert sga.stopped_by == ga.stopped_by and runs.max_diff(ga_weights, sga_weights) == 0.0


def test_sga_ascends_only_on_samples_at_gamma_or_above(runs) -> None:
    """Gamma above any MA keeps one row a step (the batch's most memorized); gamma 0 all four."""
    strict, _ = train(runs, SgaConfig(gamma=1.01))
    assert {log.values["rows"] for log in strict.logs} == {1.0}
    every, _ = train(runs, SgaConfig(gamma=0.0, stop_threshold=NEVER))
    assert {log.values["rows"] for log in every.logs} == {4.0}
    assert every.stopped_by == "epochs"  # MA never falls below -1


def test_sga_stops_at_a_fixed_threshold_once_the_mean_is_below_it(runs) -> None:
    result, _ = train(runs, SgaConfig(stop_threshold=0.99), EPOCHS)
    ledger = result.ledger
    assert result.stopped_by == "aggregate"
    assert sum(latest(ledger, "ma").values()) / len(runs.forget) < 0.99


def test_ta_with_lambda_zero_is_the_identity(runs) -> None:
    before = runs.weights(runs.model)
    result, after = train(runs, TaConfig(coefficient=0.0, stop_threshold=NEVER))
    assert result.stopped_by == "epochs" and runs.max_diff(before, after) == 0.0


def test_ta_edits_scores_and_restores_without_disturbing_fine_tuning(runs) -> None:
    """TA never crossing (threshold -1) ends with the edit of the weights plain fine-tuning
    reaches, bit for bit: the edits scored after each epoch left training as it was."""
    before = runs.weights(runs.model)
    result, after = train(runs, TaConfig(stop_threshold=NEVER))
    epochs = [log for log in result.logs if "ta_forget_ma_mean" in log.values]
    assert len(epochs) == 3  # one edit scored after each epoch
    model = copy.deepcopy(runs.model)
    inputs = LoopInputs(FinetuneConfig(), EPOCHS, 0, runs.forget, runs.retain, runs.holdout,
                        loss=DESCENT)  # fmt: skip
    UnlearningLoop(model, runs.tokenizer, inputs).run()
    assert runs.max_diff(edited(before, runs.weights(model), -3.0), after) == 0.0


def test_ta_stops_at_the_first_edit_below_the_threshold(runs) -> None:
    result, _ = train(runs, TaConfig(grid=[-8.0, -0.5, -2.0]))
    scored = [log.values for log in result.logs if "ta_lambda0_lambda" in log.values]
    assert result.stopped_by == "threshold"
    assert [scored[0][f"ta_lambda{k}_lambda"] for k in range(2)] == [-0.5, -2.0]
    line = calibrated(result.ledger, "ma", Thresholds().stop)
    assert sum(latest(result.ledger, "ma").values()) / len(runs.forget) < line
    # the chosen edit's outlier count is the ledger's, whose latest scoring is that edit's
    assert scored[0]["ta_lambda1_outliers"] == len(remaining(result.ledger, "ma",
                                                             Thresholds().outliers))  # fmt: skip


def test_tau_switching_at_once_is_ta_from_the_start(runs) -> None:
    """A first threshold above the initial mean: TA takes over at epoch 0 (TA with lambda -1)."""
    tau, tau_weights = train(runs, TauConfig(first_threshold=2.0))
    ta, ta_weights = train(runs, TaConfig(coefficient=-1.0))
    switch = [log.values for log in tau.logs if "tau_switch_epoch" in log.values]
    assert switch == [{"tau_switch_epoch": 0.0, "tau_switch_step": 0.0}]
    assert tau.stopped_by == ta.stopped_by and runs.max_diff(tau_weights, ta_weights) == 0.0


def test_tau_that_never_switches_says_so(runs) -> None:
    result, _ = train(runs, TauConfig(first_threshold=NEVER))
    assert result.stopped_by == "sga_budget"
    assert not any("tau_switch_epoch" in log.values for log in result.logs)


class Interrupt(RuntimeError):
    pass


RESUMED = [SgaConfig(gamma=0.5, stop_threshold=NEVER), TaConfig(stop_threshold=NEVER),
           TauConfig(stop_threshold=NEVER)]  # fmt: skip


def switching_after_one_epoch(runs, tau: TauConfig) -> TauConfig:
    """`tau` with its first threshold halfway between the forget mean MA before and after one
    epoch of its SGA phase: it switches to TA after exactly that epoch on any machine."""
    sga = SgaConfig(gamma=tau.gamma, stop_threshold=NEVER)
    result, _ = train(runs, sga, EPOCHS.model_copy(update={"epochs": 1}))
    before = values_at(result.ledger, "forget", "ma", 0)
    start, end = sum(before.values()) / len(before), forget_mean(result.ledger, "ma")
    assert end < start - 0.1, (start, end)  # a margin no float noise crosses
    return tau.model_copy(update={"first_threshold": (start + end) / 2})


@pytest.mark.parametrize("method", RESUMED)
def test_each_seed_method_resumes_to_the_weights_of_an_uninterrupted_run(
    runs, method, tmp_path
) -> None:  # fmt: skip
    """Interrupted at step 4 of 6 (TAU: in its TA phase, after one epoch of SGA)."""
    config = EPOCHS.model_copy(update={"checkpoint_every": 1})
    if method.name == "tau":
        method = switching_after_one_epoch(runs, method)
    whole, expected = train(runs, method, config)
    assert whole.steps == 6
    if method.name == "tau":
        assert [log.step for log in whole.logs if "tau_switch_epoch" in log.values] == [2]

    def interrupt(log) -> None:
        if log.step == 4:
            raise Interrupt("stopped on purpose")

    with pytest.raises(Interrupt):
        train(runs, method, config, checkpoint_dir=tmp_path, hooks=[interrupt])
    resumed, got = train(runs, method, config, checkpoint_dir=tmp_path)
    assert resumed.stopped_by == whole.stopped_by and runs.max_diff(expected, got) == 0.0


def test_sga_keeps_the_stages_utility_guard(runs, tiny_world) -> None:
    """A guard margin no ascent step stays within stops SGA by the guard and restores the
    least memorized checkpoint within it (here the model before the first step)."""
    guard = [Sample(f"g{i}", "guard", text[:150])  # within the tiny model's 128 positions
             for i, text in enumerate(general_text(tiny_world).passages[:8])]  # fmt: skip
    drive = DriveConfig(guard_margin=1e-6, score_every_epochs=1)
    config = EPOCHS.model_copy(update={"drive": drive})
    before = runs.weights(runs.model)
    result, after = train(runs, SgaConfig(gamma=0.0), config, guard=guard)
    assert result.stopped_by == "guard" and result.best_step == 0
    assert runs.max_diff(before, after) == 0.0
