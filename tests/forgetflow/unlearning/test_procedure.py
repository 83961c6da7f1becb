"""Procedures drive the loop one or more times through their context: steps count on across
runs, weights are read and edited, an edit scored and restored inside a run leaves training
unchanged, and an interrupted procedure resumes to the weights of an uninterrupted one."""

from __future__ import annotations

import copy
from typing import Literal

import pytest
import torch
from pydantic import BaseModel

from forgetflow.lm.prompts import QA_STYLE, qa_prompt, question_style
from forgetflow.records import Sample
from forgetflow.unlearning.config import DriveConfig, LoraSettings, TrainingConfig
from forgetflow.unlearning.inputs import LoopInputs
from forgetflow.unlearning.loop import UnlearningLoop
from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.methods.registry import MethodDefinitionError, Procedure, method_of
from forgetflow.unlearning.procedure import (
    ProcedureContext,
    ProcedureError,
    restyled,
    run_procedure,
)
from forgetflow.unlearning.state import TrainingResult

FORGET = [Sample(f"f{i}", "forget", text) for i, text in
          enumerate(["Name: Ann Lee\nCity: Lyon", "Name: Bo Chan\nCity: Oslo"])]  # fmt: skip
HOLDOUT = [Sample(f"h{i}", "holdout", text) for i, text in
           enumerate(["Name: Cy Diaz\nCity: Rome", "Name: Di Eze\nCity: Lagos"])]  # fmt: skip
TRAINING = TrainingConfig(steps=2, batch_size=2, lr=1e-3, checkpoint_every=2, dropout=True)


class TwoRunsConfig(BaseModel):
    name: Literal["two_runs"] = "two_runs"


def two_runs(config: TwoRunsConfig, context: ProcedureContext) -> TrainingResult:
    """Fine-tune 2 steps, negate the change (theta0 - delta), ascend 3 steps, score."""
    before = context.weights()
    context.finetune()
    tuned = context.weights()
    context.set_weights({k: before[k] - (tuned[k] - before[k]) for k in before})
    context.log({"edited": 1.0})
    context.train(GradAscentConfig(), {"steps": 3})
    context.score()
    return context.result("two_runs")


def run(model, tokenizer, procedure=two_runs, training=TRAINING, folder=None, hooks=()):
    inputs = LoopInputs(TwoRunsConfig(), training, 0, FORGET, holdout=HOLDOUT,
                        checkpoint_dir=folder, hooks=hooks)  # fmt: skip
    spec = Procedure(TwoRunsConfig, procedure)
    return run_procedure(spec, model, tokenizer, inputs, UnlearningLoop)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_runs_count_their_steps_on_and_edits_land(tiny_model, tmp_path) -> None:
    model, tokenizer = copy.deepcopy(tiny_model[0]), tiny_model[1]
    seen = []
    result = run(model, tokenizer, folder=tmp_path, hooks=[lambda log: seen.append(log.step)])
    assert result.steps == 5 and result.stopped_by == "two_runs" and result.model is model
    assert [log.step for log in result.logs] == [1, 2, 2, 3, 4, 5] == seen
    assert result.logs[2].values == {"edited": 1.0}
    assert "finetune_nll" in result.logs[0].values and "forget_loss" in result.logs[3].values
    assert sorted(set(result.ledger["step"].to_pylist())) == [5]
    assert {p.name for p in tmp_path.iterdir()} == {"1-finetune", "2-grad_ascent"}
    assert not model.training


class Interrupt(RuntimeError):
    pass


def test_an_interrupted_procedure_resumes_to_the_same_weights(tiny_model, tmp_path) -> None:
    """The finished fine-tuning returns at once from its last checkpoint (no step is retaken);
    the ascent continues from its step-4 checkpoint."""
    whole = copy.deepcopy(tiny_model[0])
    run(whole, tiny_model[1])

    def stop_at_five(log) -> None:
        if log.step == 5:
            raise Interrupt("stopped on purpose")

    with pytest.raises(Interrupt):
        run(copy.deepcopy(tiny_model[0]), tiny_model[1], folder=tmp_path, hooks=[stop_at_five])
    resumed, seen = copy.deepcopy(tiny_model[0]), []
    run(resumed, tiny_model[1], folder=tmp_path, hooks=[lambda log: seen.append(log.step)])
    assert seen == [2, 5]  # the procedure's own log at step 2, then the ascent's last step
    expected, got = weights(whole), weights(resumed)
    assert max(float((expected[k] - got[k]).abs().max()) for k in expected) == 0.0


def test_an_edit_scored_and_restored_inside_a_run_leaves_training_unchanged(tiny_model) -> None:
    """TA's evaluation: at every step, write theta0 - delta, score it, write back the training
    weights; training goes on bit-identical to a run without the evaluation."""
    drive = DriveConfig(metrics=["loss"], metric="loss")
    training = TrainingConfig(steps=3, batch_size=2, lr=1e-3, drive=drive)

    def tuned(evaluate: bool):
        def procedure(config, context: ProcedureContext) -> TrainingResult:
            start = context.weights()

            def stop(log) -> str:
                now = context.weights()
                context.set_weights({k: 2 * start[k] - now[k] for k in start})
                context.score()
                context.set_weights(now)
                return ""

            context.finetune(stop=stop if evaluate else None)
            return context.result("tuned")

        model = copy.deepcopy(tiny_model[0])
        return run(model, tiny_model[1], procedure, training), weights(model)

    (plain, expected), (evaluated, got) = tuned(False), tuned(True)
    assert max(float((expected[k] - got[k]).abs().max()) for k in expected) == 0.0
    assert plain.ledger is None
    assert sorted(set(evaluated.ledger["step"].to_pylist())) == [1, 2, 3]


def test_what_a_procedure_cannot_do_is_one_clear_error(tiny_model) -> None:
    model, tokenizer = copy.deepcopy(tiny_model[0]), tiny_model[1]
    lora = TRAINING.model_copy(update={"lora": LoraSettings()})
    with pytest.raises(ProcedureError, match="^procedure 'two_runs': training.lora is not"):
        run(model, tokenizer, training=lora)

    def nested(config, context: ProcedureContext) -> TrainingResult:
        context.finetune(stop=lambda log: str(context.finetune()))
        return context.result("never")

    with pytest.raises(ProcedureError, match="a loop run started inside another"):
        run(model, tokenizer, nested)

    def renamed(config, context: ProcedureContext) -> TrainingResult:
        context.set_weights({"no.such.weight": torch.zeros(1)})
        return context.result("never")

    with pytest.raises(ProcedureError, match="no.such.weight are no parameters of the model"):
        run(model, tokenizer, renamed)
    with pytest.raises(ProcedureError, match="returned NoneType: return context.result"):
        run(model, tokenizer, lambda config, context: None)
    with pytest.raises(MethodDefinitionError, match="kind 'loop'; a method's kind is one of"):
        method_of("two_runs", two_runs, TwoRunsConfig, kind="loop")
    with pytest.raises(MethodDefinitionError, match="needs and preferred belong to a loss"):
        method_of("two_runs", two_runs, TwoRunsConfig, kind="procedure", preferred=lambda *a: [])


class ChatTemplated:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, conversation: list[dict[str, str]], **options: bool) -> str:
        return f"<user>{conversation[0]['content']}<assistant>"


def test_a_procedures_retain_qa_rows_are_asked_in_its_question_style() -> None:
    chat = question_style(ChatTemplated())
    row = Sample("keep-1", "retain", " Addis Ababa", prompt=qa_prompt("Capital of Ethiopia?"))
    moved = restyled(row, chat)
    assert (moved.prompt, moved.text) == ("<user>Capital of Ethiopia?<assistant>", "Addis Ababa")
    assert moved.sample_id == row.sample_id and restyled(row, QA_STYLE) is row
    text = Sample("doc-1", "retain", "Question: a line of prose", prompt="")
    assert restyled(text, chat) is text
