"""UnSTAR's rounds on the tiny world with template generators: what every round records, that
no accepted anti-sample leaks, that no training question is an evaluation question, and that a
round 0 written beforehand (stage 2) gives the same run as one the procedure writes."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest
import torch

from forgetflow.antisamples.leak_filter import leak_reason
from forgetflow.antisamples.unstar.build import ROUNDS_SCHEMA
from forgetflow.antisamples.unstar.round_zero import RoundZeroError, round_zero, round_zero_from
from forgetflow.antisamples.unstar.writers import RoleSettings, WriterSettings
from forgetflow.data.answers import normalise_answer
from forgetflow.lm.prompts import qa_prompt
from forgetflow.models.io import load_model
from forgetflow.records import Sample
from forgetflow.scenarios.world.fact_draw import draw_world_facts, model_answers
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.unstar import UnstarConfig, round_settings
from forgetflow.unlearning.procedure import ProcedureError

TEMPLATE = WriterSettings(generator="template")
TEMPLATED = RoleSettings(questions=TEMPLATE, answers=TEMPLATE, rationales=TEMPLATE)


def forget_and_keep(facts) -> tuple[list[Sample], list[Sample]]:  # noqa: ANN001
    forget = [Sample(t.target_id, "forget", f" {t.answer}", prompt=qa_prompt(t.question))
              for t in facts.request.targets]  # fmt: skip
    keep = [Sample(f"keep-{p.row['item_id']}", "retain", f" {p.row['answer']}",
                   prompt=qa_prompt(p.row["question"])) for p in facts.trained]  # fmt: skip
    return forget, keep


def test_rounds_record_every_probe_and_accept_no_leak(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    # targets the model answers on their own question, which the question writer asks first
    facts = draw_world_facts(tiny_world, 2, 0, model_answers(model, tokenizer, paraphrase=False))
    request = facts.request
    forget, keep = forget_and_keep(facts)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = UnstarConfig(roles=TEMPLATED, rounds=2)
    result = unlearn(model, tokenizer, config, TrainingConfig(lr=3e-2), 0, forget, keep,
                     facts=request)  # fmt: skip
    table = result.tables["unstar_rounds"]
    assert table.schema == ROUNDS_SCHEMA
    assert result.stopped_by in ("q_target", "rounds", "no_antisamples", "nothing_known")
    first = table.filter(pc.equal(table["round"], 1))
    assert first.num_rows == 4 * config.per_variant * len(request.targets)  # every question asked
    targets = {t.target_id: t for t in request.targets}
    rows = table.to_pylist()
    for row in rows:
        assert row["accepted"] is False or row["still_answered"] is True
        if row["accepted"]:
            target = targets[row["target_id"]]
            spellings = (target.subject,) if row["variant"] == "reversed" else target.spellings
            assert leak_reason(spellings, f"{row['falsified']}. {row['rationale']}") is None
            assert row["falsified"] not in target.distractors
            assert row["question_writer"] == "template:world-generator"
    asked = {normalise_answer(r["question"]) for r in rows}
    assert not asked & {normalise_answer(q.text) for q in request.evaluation}
    accepted = sum(r["accepted"] for r in rows)
    changed = any(not torch.equal(before[n], p) for n, p in result.model.named_parameters())
    assert changed == (accepted > 0)
    assert accepted > 0  # the model answered each target's own question when it was drawn


def test_a_request_without_facts_is_one_error(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    forget = [Sample("f0", "forget", "Name: Ana Ruiz")]
    with pytest.raises(ProcedureError, match="needs a facts request"):
        unlearn(model, tokenizer, UnstarConfig(roles=TEMPLATED), TrainingConfig(), 0, forget)


def test_a_round_zero_written_before_training_gives_the_same_run(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    facts = draw_world_facts(tiny_world, 2, 0, model_answers(model, tokenizer, paraphrase=False))
    forget, keep = forget_and_keep(facts)
    config = UnstarConfig(roles=TEMPLATED, rounds=1)  # round 1 from round 0, then the last probe
    zero = round_zero(round_settings(config), facts.request, model, tokenizer, 0)
    stored = round_zero_from(*zero.tables())  # as stage 2 stores it and stage 3 reads it
    assert stored == zero and sum(r["accepted"] for r in stored.rows) > 0
    runs = []
    for given in (stored, None):
        fresh, _ = load_model(tiny_world.model_dir)
        result = unlearn(fresh, tokenizer, config, TrainingConfig(lr=3e-2), 0, forget, keep,
                         facts=facts.request, round_zero=given)  # fmt: skip
        runs.append(result)
    written_before, written_here = (r.tables["unstar_rounds"] for r in runs)
    assert written_before.equals(written_here)
    assert written_before.filter(pc.equal(written_before["round"], 1)).to_pylist() == list(
        stored.rows
    )
    assert runs[0].steps == runs[1].steps > 0
    for (name, a), (_, b) in zip(runs[0].model.named_parameters(),
                                 runs[1].model.named_parameters(), strict=True):  # fmt: skip
        assert torch.equal(a, b), name


def test_a_round_zero_of_other_settings_is_one_error(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    facts = draw_world_facts(tiny_world, 2, 0, model_answers(model, tokenizer, paraphrase=False))
    forget, keep = forget_and_keep(facts)
    written = round_zero(round_settings(UnstarConfig(roles=TEMPLATED, per_variant=2)),
                         facts.request, model, tokenizer, 0)  # fmt: skip
    with pytest.raises(RoundZeroError, match="write round 0 again"):
        unlearn(model, tokenizer, UnstarConfig(roles=TEMPLATED), TrainingConfig(), 0, forget,
                keep, facts=facts.request, round_zero=written)  # fmt: skip
