"""ICU on the tiny world: without its extra terms and refinement it is GA step for step; its KL
against the cached original equals the KL against a resident copy; its refinement flags leave
unflagged samples out of the loss and survive an interruption."""

from __future__ import annotations

import pytest

from forgetflow.unlearning.config import DriveConfig, TrainingConfig
from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.methods.icu import IcuConfig

TRAINING = TrainingConfig(epochs=2, batch_size=4, lr=2e-3, max_grad_norm=None)
QUICK = {"embedder": "model", "refine_batch": 8}  # no MiniLM: the model's own embeddings


def train(runs, method, config=TRAINING, **options):
    return runs.train(method, config, **options)


def test_icu_without_its_terms_and_refinement_is_gradient_ascent(runs) -> None:
    drive = DriveConfig(score_every_epochs=1, stop_aggregate=["ma"])
    ga, ga_weights = train(runs, GradAscentConfig(),
                           TRAINING.model_copy(update={"drive": drive}))  # fmt: skip
    icu, icu_weights = train(runs,
                             IcuConfig(alpha=0.0, beta=0.0, refinement=False, **QUICK))  # fmt: skip
    losses = [(log.step, log.values["forget_loss"]) for log in ga.logs]
    assert [(log.step, log.values["forget_loss"]) for log in icu.logs
            if "forget_loss" in log.values] == losses  # fmt: skip
    assert icu.stopped_by == ga.stopped_by and runs.max_diff(ga_weights, icu_weights) == 0.0


def test_the_cached_kl_equals_the_kl_against_a_resident_original(runs) -> None:
    """Every step's KL term agrees to float noise (1e-5, on values of order 1e-3 to 1 after the
    first step's 0: the original against itself). The weights are not compared: Adam scales
    each parameter's step by its gradient's size, so float noise in a near-zero gradient moves
    a weight by up to lr."""
    method = IcuConfig(refinement=False, **QUICK)
    cached, _ = train(runs, method)
    resident_config = TRAINING.model_copy(update={"reference": "resident"})
    resident, _ = train(runs, method, resident_config)
    kl = [log.values["analogous_kl"] for log in cached.logs if "analogous_kl" in log.values]
    kl_resident = [log.values["analogous_kl"] for log in resident.logs
                   if "analogous_kl" in log.values]  # fmt: skip
    assert len(kl) == 4 and abs(kl[0]) < 1e-5 and kl[-1] > 1e-3
    assert max(abs(a - b) for a, b in zip(kl, kl_resident, strict=True)) < 1e-5


def test_refinement_logs_its_flags_each_epoch_and_stops_when_none_is_left(runs) -> None:
    result, _ = train(runs, IcuConfig(thresholds="paper", **QUICK),
                      TRAINING.model_copy(update={"epochs": 3}))  # fmt: skip
    first = result.logs[0].values
    assert first["icu_bleu_threshold"] == 0.01 and first["icu_embedder_minilm"] == 0.0
    flagged = [log.values["icu_flagged"] for log in result.logs if "icu_flagged" in log.values]
    assert len(flagged) >= 2 and all(0 <= f <= 8 for f in flagged)
    assert result.stopped_by in ("no_flags", "aggregate", "epochs")
    assert (result.stopped_by == "no_flags") == (flagged[-1] == 0)


def test_unflagged_samples_weigh_nothing(runs, monkeypatch) -> None:
    """No sample flagged from the start: nothing is trained, the run says why."""
    before = runs.weights(runs.model)
    monkeypatch.setattr("forgetflow.unlearning.methods.icu.Refinement.flagged",
                        lambda self, scores: [])  # fmt: skip
    result, after = train(runs, IcuConfig(**QUICK))
    assert result.stopped_by == "no_flags" and result.steps == 0
    assert runs.max_diff(before, after) == 0.0


class Interrupt(RuntimeError):
    pass


def test_icu_resumes_to_the_weights_of_an_uninterrupted_run(runs, tmp_path, monkeypatch) -> None:
    """Interrupted after its first epoch's refinement (step 3 of 4): the flags come back from the
    checkpoint, not from a fresh scoring. The flags are the 4 samples of highest BLEU (they
    change with the weights, and the run never runs out of them) and no mean stops it, so the
    run lasts its 4 steps on any machine."""

    def top_bleu(self, scores) -> list[str]:
        return sorted(sorted(scores.bleu, key=lambda i: (-scores.bleu[i], i))[:4])

    monkeypatch.setattr("forgetflow.unlearning.methods.icu.Refinement.flagged", top_bleu)
    config = TRAINING.model_copy(update={"checkpoint_every": 1})
    method = IcuConfig(stop_threshold=-1.0, **QUICK)
    whole, expected = train(runs, method, config)

    def interrupt(log) -> None:
        if log.step == 3:
            raise Interrupt("stopped on purpose")

    with pytest.raises(Interrupt):
        train(runs, method, config, checkpoint_dir=tmp_path, hooks=[interrupt])
    resumed, got = train(runs, method, config, checkpoint_dir=tmp_path)
    assert whole.steps == 4 and whole.stopped_by == "epochs"
    assert resumed.stopped_by == whole.stopped_by and runs.max_diff(expected, got) == 0.0


def test_the_per_sample_stop_waits_for_the_last_outlier_not_the_mean(runs) -> None:
    result, _ = train(runs, IcuConfig(refinement=False, stop="per_sample", **QUICK),
                      TRAINING.model_copy(update={"epochs": 8}))  # fmt: skip
    outliers = [log.values["outliers"] for log in result.logs if "outliers" in log.values]
    assert result.stopped_by == "per_sample"
    assert outliers[-1] == 0 and all(count > 0 for count in outliers[:-1])
