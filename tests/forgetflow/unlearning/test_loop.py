"""The unlearning loop: every method through it, accumulation, the drive, checkpoints, LoRA."""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch

from forgetflow.lm.dtypes import FORCE_ENV
from forgetflow.lm.logprobs import sequence_logprob, sequence_nll
from forgetflow.lm.tokens import encode, pad_right
from forgetflow.records import Sample
from forgetflow.unlearning.checkpoints import CheckpointError
from forgetflow.unlearning.config import DriveConfig, LoraSettings, TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.grad_diff import GradDiffConfig
from forgetflow.unlearning.methods.registry import get_method, names_of


def samples(world, split_name: str, n: int) -> list[Sample]:
    rows = [r for r in world.table("items").to_pylist()
            if r["split"] == split_name and r["family"] == "profile"]  # fmt: skip
    return [Sample(r["sample_id"], split_name, r["text"], r["repetitions"]) for r in rows][:n]


@pytest.fixture()
def fresh(tiny_model):
    """A private copy of the tiny model and its tokenizer: tests train it."""
    model, tokenizer = tiny_model
    return copy.deepcopy(model), tokenizer


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def batch_of(tokenizer, texts: list[str]):
    return pad_right(encode(tokenizer, texts), tokenizer.pad_token_id)


# --- every registered method ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(names_of("loss")))
def test_every_method_runs_in_the_loop_and_forgets(name, tiny_world, fresh) -> None:
    model, tokenizer = fresh
    forget = samples(tiny_world, "forget", 4)
    config = get_method(name).config()
    needs_preferred = get_method(name).preferred is not None
    with torch.no_grad():
        fixed = batch_of(tokenizer, [s.text for s in forget])
        before_nll = float(sequence_nll(model, fixed).mean())
        if needs_preferred:
            preferred = batch_of(
                tokenizer, get_method(name).preferred(config, forget, 0, tokenizer)
            )
            before_margin = float((sequence_logprob(model, preferred)
                                   - sequence_logprob(model, fixed)).mean())  # fmt: skip
    before = weights(model)
    result = unlearn(model, tokenizer, config, TrainingConfig(steps=1, batch_size=4, lr=1e-3), 0,
                     forget, retain=samples(tiny_world, "retain", 4))  # fmt: skip
    assert result.steps == 1 and result.stopped_by == "steps"
    assert max_diff(before, weights(model)) > 0
    with torch.no_grad():
        if needs_preferred:  # idk_dpo: the preferred answer gains on the rejected one
            after = float((sequence_logprob(model, preferred)
                           - sequence_logprob(model, fixed)).mean())  # fmt: skip
            assert after > before_margin
        else:
            assert float(sequence_nll(model, fixed).mean()) > before_nll


@pytest.mark.parametrize("name", [n for n in sorted(names_of("loss")) if n in ("npo", "idk_dpo")])
def test_cached_reference_trains_like_a_resident_one(name, tiny_world, tiny_model) -> None:
    """Plain SGD: the two references' log-probabilities come from differently padded batches, so
    they agree to float noise only, which Adam would turn into steps of up to lr."""
    forget, retain = samples(tiny_world, "forget", 6), samples(tiny_world, "retain", 6)
    config = get_method(name).config()
    ends = {}
    for reference in ("cached", "resident"):
        model, tokenizer = copy.deepcopy(tiny_model[0]), tiny_model[1]
        training = TrainingConfig(steps=3, batch_size=2, reference=reference, optimizer="sgd",
                                  lr=0.1, max_grad_norm=None)  # fmt: skip
        logs = unlearn(model, tokenizer, config, training, 1, forget, retain).logs
        ends[reference] = (weights(model), [log.values["loss"] for log in logs])
    assert max_diff(ends["cached"][0], ends["resident"][0]) <= 1e-5
    assert ends["cached"][1] == pytest.approx(ends["resident"][1], abs=1e-5)


# --- the loop's mechanics -------------------------------------------------------------------


def test_accumulating_k_batches_of_b_equals_one_batch_of_k_times_b(tiny_world, tiny_model) -> None:
    """With plain SGD at lr 1 the weight change is the gradient itself (Adam would turn float
    noise in near-zero gradients into steps of up to lr)."""
    forget, retain = samples(tiny_world, "forget", 8), samples(tiny_world, "retain", 8)
    ends = []
    for accum in (1, 4):
        model, tokenizer = copy.deepcopy(tiny_model[0]), tiny_model[1]
        training = TrainingConfig(steps=2, batch_size=8, grad_accum=accum, max_grad_norm=None,
                                  optimizer="sgd", lr=1.0)  # fmt: skip
        unlearn(model, tokenizer, GradDiffConfig(), training, 0, forget, retain)
        ends.append(weights(model))
    assert max_diff(*ends) <= 1e-5


def test_training_is_deterministic_in_its_seed(tiny_world, tiny_model) -> None:
    forget, retain = samples(tiny_world, "forget", 6), samples(tiny_world, "retain", 6)
    runs = []
    for _ in range(2):
        model, tokenizer = copy.deepcopy(tiny_model[0]), tiny_model[1]
        training = TrainingConfig(steps=3, batch_size=2, dropout=True, schedule="cosine")
        logs = unlearn(model, tokenizer, GradDiffConfig(), training, 5, forget, retain).logs
        runs.append(([log.values for log in logs], weights(model)))
    assert runs[0][0] == runs[1][0]
    assert max_diff(runs[0][1], runs[1][1]) == 0.0


def test_epochs_bound_the_steps_and_schedules_reach_zero(tiny_world, fresh) -> None:
    model, tokenizer = fresh
    training = TrainingConfig(steps=100, epochs=2, batch_size=3, schedule="linear")
    result = unlearn(model, tokenizer, GradDiffConfig(), training, 0,
                     samples(tiny_world, "forget", 6))  # fmt: skip
    assert result.steps == 4 and result.stopped_by == "epochs"
    assert TrainingConfig().steps == 40 and TrainingConfig(epochs=3).steps is None
    assert result.logs[-1].values["epoch"] == 2.0
    assert result.logs[-1].values["lr"] == 0.0


def test_bad_inputs_are_clear_errors(tiny_world, fresh) -> None:
    model, tokenizer = fresh
    forget = samples(tiny_world, "forget", 4)
    with pytest.raises(KeyError, match="registered"):
        get_method("nope")
    with pytest.raises(ValueError, match="forget set is empty"):
        unlearn(model, tokenizer, GradDiffConfig(), TrainingConfig(), 0, [])
    with pytest.raises(ValueError, match="split evenly"):
        unlearn(model, tokenizer, GradDiffConfig(), TrainingConfig(batch_size=5, grad_accum=2),
                0, forget)  # fmt: skip
    with pytest.raises(ValueError, match="holdout"):
        drive = DriveConfig(score_every=1, select=True)
        unlearn(model, tokenizer, GradDiffConfig(), TrainingConfig(drive=drive), 0, forget)
    with pytest.raises(ValueError, match="need score_every"):
        DriveConfig(stop_per_sample=True)
    with pytest.raises(ValueError, match="among the scored metrics"):
        DriveConfig(score_every=1, metrics=["ma"], stop_aggregate=["el_5"])
    with pytest.raises(ValueError):
        GradDiffConfig(unknown=1)


# --- the ledger drives training --------------------------------------------------------------


def test_scoring_fills_the_ledger_and_the_per_sample_rule_stops(tiny_world, fresh) -> None:
    model, tokenizer = fresh
    forget = [s for s in samples(tiny_world, "forget", 40) if s.repetitions >= 16][:4]
    drive = DriveConfig(score_every=2, metrics=["ma", "loss"], stop_per_sample=True)
    training = TrainingConfig(steps=60, batch_size=4, lr=3e-3, drive=drive)
    result = unlearn(model, tokenizer, GradDiffConfig(retain_weight=0.0), training, 0, forget,
                     holdout=samples(tiny_world, "holdout", 6))  # fmt: skip
    assert result.stopped_by == "per_sample" and result.steps < 60
    scored = sorted(set(result.ledger["step"].to_pylist()))
    assert scored == list(range(0, result.steps + 1, 2))
    assert result.logs[-1].values["outliers"] == 0.0
    assert set(result.ledger["metric"].to_pylist()) == {"ma", "loss"}


def test_selection_trains_only_on_what_is_still_memorized(tiny_world, tiny_model) -> None:
    base, tokenizer = tiny_model
    model = copy.deepcopy(base)
    forget = samples(tiny_world, "forget", 40)
    memorized = [s for s in forget if s.repetitions >= 16][:3]
    unseen = samples(tiny_world, "holdout", 12)
    drive = DriveConfig(score_every=1, select=True, weights="memorization")
    training = TrainingConfig(steps=1, batch_size=6, drive=drive)
    # The forget set mixes memorized records (MA about 0.97) with word-shuffled holdout records,
    # which no model can continue (MA about 0.1) against the holdout's mean MA of about 0.36: the
    # selection is decided by a margin of 0.2 or more, not by which side of the mean a float lands.
    rng = random.Random(0)
    shuffled = [rng.sample(s.text.split(), len(s.text.split())) for s in unseen[:3]]
    mixed = memorized + [Sample(f"x{i}", "forget", " ".join(w)) for i, w in enumerate(shuffled)]
    result = unlearn(model, tokenizer, GradDiffConfig(), training, 0, mixed, holdout=unseen[3:])
    assert result.logs[0].values["rows"] == 3.0  # the three memorized ones
    # a fixed threshold in place of the outlier rule (SGA's gamma): at 0.5, the same three; at
    # 0, every row (MA is never below 0)
    for threshold, rows in ((0.5, 3.0), (0.0, 6.0)):
        fixed = drive.model_copy(update={"select_threshold": threshold})
        again = unlearn(copy.deepcopy(base), tokenizer, GradDiffConfig(), training.model_copy(
            update={"drive": fixed}), 0, mixed, holdout=unseen[3:])  # fmt: skip
        assert again.logs[0].values["rows"] == rows, threshold
    with pytest.raises(ValueError, match="select_threshold applies under select"):
        DriveConfig(score_every=1, select_threshold=0.7)


def general_text(world, tokenizer, n: int) -> list[Sample]:
    """Background passages no model of the world trained on, short enough for its positions:
    the guard's rows."""
    items = world.table("items").to_pylist()
    held = [r for r in items if r["split"] == "background_eval"
            and len(encode(tokenizer, [r["text"]])[0]) < 100][:n]  # fmt: skip
    return [Sample(r["sample_id"], "guard", r["text"]) for r in held]


def test_utility_guard_keeps_the_best_checkpoint(tiny_world, fresh, tmp_path) -> None:
    model, tokenizer = fresh
    guard = general_text(tiny_world, tokenizer, 8)
    assert len(guard) == 8
    with torch.no_grad():
        start = float(sequence_nll(model, batch_of(tokenizer, [g.text for g in guard])).mean())
    drive = DriveConfig(score_every=1, guard_margin=0.05)
    training = TrainingConfig(steps=30, batch_size=4, lr=3e-3, drive=drive)
    result = unlearn(model, tokenizer, GradDiffConfig(retain_weight=0.0), training, 0,
                     samples(tiny_world, "forget", 8), samples(tiny_world, "retain", 8),
                     samples(tiny_world, "holdout", 6), checkpoint_dir=tmp_path,
                     guard=guard)  # fmt: skip
    assert result.stopped_by == "guard"
    assert result.best_step is not None and result.best_step < result.steps
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    assert best["step"] == result.best_step
    assert max_diff(best["model"], weights(model)) == 0.0  # the model ends at the best step
    (_, first, _), *scored = result.guard
    assert first == pytest.approx(
        start, rel=1e-5
    )  # measured on the guard half, not the retain rows
    assert [step for step, _, _ in scored] == list(range(1, result.steps + 1))
    assert scored[-1][1] > first + 0.05  # the last step broke the margin
    assert all(loss <= first + 0.05 for _, loss, _ in scored[:-1])
    within = [(ma, step) for step, loss, ma in result.guard if loss <= first + 0.05]
    assert min(within)[1] == result.best_step


def test_the_utility_guard_without_general_text_is_refused(tiny_world, fresh) -> None:
    model, tokenizer = fresh
    training = TrainingConfig(steps=2, drive=DriveConfig(score_every=1, guard_margin=0.05))
    with pytest.raises(ValueError, match="needs general text's guard half"):
        unlearn(model, tokenizer, GradDiffConfig(), training, 0, samples(tiny_world, "forget", 4),
                samples(tiny_world, "retain", 4), samples(tiny_world, "holdout", 4))  # fmt: skip


# --- checkpoints ---------------------------------------------------------------------------------


class Interrupt(RuntimeError):
    pass


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_world, tiny_model, tmp_path) -> None:
    forget, retain = samples(tiny_world, "forget", 6), samples(tiny_world, "retain", 6)
    holdout = samples(tiny_world, "holdout", 4)
    drive = DriveConfig(score_every=2, weights="memorization")
    training = TrainingConfig(steps=6, batch_size=2, checkpoint_every=2, dropout=True,
                              schedule="cosine", drive=drive)  # fmt: skip

    def run(hooks=(), directory=None):
        model, tokenizer = copy.deepcopy(tiny_model[0]), tiny_model[1]
        result = unlearn(model, tokenizer, GradDiffConfig(), training, 3, forget, retain, holdout,
                         checkpoint_dir=directory, hooks=hooks)  # fmt: skip
        return result, weights(model)

    whole, expected = run()

    def stop_after_three(log) -> None:
        if log.step == 3:
            raise Interrupt("stopped on purpose")

    with pytest.raises(Interrupt):
        run([stop_after_three], tmp_path)
    resumed, got = run([], tmp_path)
    assert max_diff(expected, got) == 0.0
    assert [log.values for log in resumed.logs] == [log.values for log in whole.logs]
    assert resumed.ledger.equals(whole.ledger)
    other = TrainingConfig(steps=6, batch_size=2, lr=5e-4, checkpoint_every=2)
    with pytest.raises(CheckpointError, match="other settings"):
        unlearn(copy.deepcopy(tiny_model[0]), tiny_model[1], GradDiffConfig(), other, 3, forget,
                retain, checkpoint_dir=tmp_path)  # fmt: skip


# --- LoRA ------------------------------------------------------------------------------------


def test_lora_adapter_and_merged_weights_give_the_same_logits(tiny_world, fresh, tmp_path) -> None:
    from forgetflow.models.io import load_model
    from forgetflow.unlearning.run import save_trained

    model, tokenizer = fresh
    forget = samples(tiny_world, "forget", 4)
    for save in ("adapter", "merged"):
        training = TrainingConfig(steps=2, batch_size=4, lr=1e-2,
                                  lora=LoraSettings(rank=4, save=save))  # fmt: skip
        trained = copy.deepcopy(model)
        result = unlearn(trained, tokenizer, GradDiffConfig(), training, 0, forget)
        save_trained(result, tokenizer, training, tmp_path / save)
    adapter_files = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert "adapter_config.json" in adapter_files and "model.safetensors" not in adapter_files
    ids = batch_of(tokenizer, [s.text for s in forget])
    logits = {}
    for save in ("adapter", "merged"):
        loaded, _ = load_model(tmp_path / save)
        with torch.no_grad():
            logits[save] = loaded(input_ids=ids.input_ids, attention_mask=ids.attention_mask).logits
    assert torch.allclose(logits["adapter"], logits["merged"], atol=1e-5)
    with torch.no_grad():
        plain = model(input_ids=ids.input_ids, attention_mask=ids.attention_mask).logits
    assert not torch.allclose(plain, logits["merged"], atol=1e-4)  # the adapter did something


def test_a_qa_row_trains_on_its_answer_only(tiny_world, fresh) -> None:
    """NPO's ratio and the logged forget NLL cover the answer's tokens, not the question's."""
    from forgetflow.memorization.windows import tokenize_samples
    from forgetflow.unlearning.methods.npo import NPOConfig

    model, tokenizer = fresh
    rows = [r for r in tiny_world.table("qa").to_pylist() if r["repetitions"] >= 8][:3]
    qa = [Sample(r["sample_id"], "forget", " " + r["answer"], r["repetitions"],
                 prompt=f"Question: {r['question']}\nAnswer:") for r in rows]  # fmt: skip
    items = tokenize_samples(tokenizer, qa)
    assert all(i.start > 1 for i in items)
    whole = pad_right([list(i.ids) for i in items], tokenizer.pad_token_id)
    answer = pad_right([list(i.ids) for i in items], tokenizer.pad_token_id,
                       [i.start for i in items])  # fmt: skip
    with torch.no_grad():
        expected = float(sequence_nll(model, answer).mean())
        assert expected != pytest.approx(float(sequence_nll(model, whole).mean()))
    result = unlearn(model, tokenizer, NPOConfig(retain_weight=0.0), TrainingConfig(steps=1,
                     batch_size=3), 0, qa)  # fmt: skip
    assert result.logs[0].values["forget_nll"] == pytest.approx(expected, rel=1e-5)
    assert result.logs[0].values["forget_loss"] == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)


@pytest.mark.parametrize("reference", ["cached", "resident"])
@pytest.mark.parametrize("name", ["npo", "idk_dpo"])
def test_bfloat16_reference_matches_the_policy_at_step_0(
    name, reference, tiny_world, fresh, monkeypatch
):
    """Under a bfloat16 autocast the reference is computed under the same autocast: the log-ratio
    to it is 0 at step 0 and the loss is its value there, (2/beta) log 2 (a float32 reference
    leaves bfloat16's rounding in the ratio: 1e-2 and more on this model)."""
    monkeypatch.setenv(FORCE_ENV, "1")  # bfloat16 on any CPU
    model, tokenizer = fresh
    config = get_method(name).config(retain_weight=0.0)
    training = TrainingConfig(steps=1, batch_size=4, dtype="bfloat16", reference=reference)
    result = unlearn(model, tokenizer, config, training, 0, samples(tiny_world, "forget", 4))
    assert result.logs[0].values["forget_loss"] == pytest.approx(2 / 0.1 * math.log(2), abs=1e-3)


def test_bfloat16_settings_run_in_float32_on_a_cpu_without_bf16(tiny_world, fresh, monkeypatch):
    from forgetflow.lm import dtypes
    from forgetflow.unlearning.inputs import LoopInputs
    from forgetflow.unlearning.loop import UnlearningLoop

    monkeypatch.setattr(dtypes, "native_bf16", lambda device: False)
    monkeypatch.delenv(FORCE_ENV, raising=False)
    model, tokenizer = fresh
    training = TrainingConfig(dtype="bfloat16", drive=DriveConfig(dtype="bfloat16"))
    inputs = LoopInputs(GradDiffConfig(retain_weight=0.0), training, 0,
                        samples(tiny_world, "forget", 2))  # fmt: skip
    loop = UnlearningLoop(model, tokenizer, inputs)
    assert loop.train_dtype == loop.score_dtype == torch.float32
    monkeypatch.setenv(FORCE_ENV, "1")
    loop = UnlearningLoop(model, tokenizer, inputs)
    assert loop.train_dtype == loop.score_dtype == torch.bfloat16


def test_bfloat16_scoring_autocasts_and_stays_close_to_float32(tiny_world, tiny_model, monkeypatch):
    from forgetflow.unlearning import scoring

    monkeypatch.setenv(FORCE_ENV, "1")  # bfloat16 on any CPU
    model, tokenizer = tiny_model
    forget = samples(tiny_world, "forget", 12)
    holdout = samples(tiny_world, "holdout", 6)
    seen = []
    score = scoring.score_to_ledger

    def spy(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu"))
        return score(*args, **kwargs)

    monkeypatch.setattr(scoring, "score_to_ledger", spy)
    ledgers = {}
    for dtype in ("float32", "bfloat16"):
        drive = DriveConfig(score_every=1, metrics=["ma"], dtype=dtype)
        training_config = TrainingConfig(steps=2, batch_size=4, lr=1e-3, drive=drive)
        result = unlearn(copy.deepcopy(model), tokenizer, GradDiffConfig(retain_weight=0.0),
                         training_config, 0, forget, holdout=holdout)  # fmt: skip
        ledgers[dtype] = result.ledger
    assert seen == [False] * 3 + [torch.bfloat16] * 3  # steps 0, 1, 2 of each run
    exact, fast = ledgers["float32"]["value"].to_pylist(), ledgers["bfloat16"]["value"].to_pylist()
    assert ledgers["float32"]["sample_id"] == ledgers["bfloat16"]["sample_id"]
    assert max(abs(a - b) for a, b in zip(exact, fast, strict=True)) <= 0.05
    assert sum(abs(a - b) for a, b in zip(exact, fast, strict=True)) / len(exact) <= 0.01
