"""A facts request drawn from the tiny world, decided by construction: which facts qualify is
the `answers` callback's (here every fact, or every other one), never the model's."""

from __future__ import annotations

import pytest

from forgetflow.antisamples.unstar.template_writers import TemplateQuestionWriter
from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.world.fact_draw import DrawError, draw_world_facts
from forgetflow.scenarios.world.question_templates import WORLD_GENERATOR


def everything(rows):  # noqa: ANN001, ANN201
    return [True] * len(rows)


def test_targets_are_answered_retained_strong_facts_with_split_keep_probes(tiny_world) -> None:
    facts = draw_world_facts(tiny_world, 2, seed=0, answers=everything)
    assert len(facts.request.targets) == 2
    for target in facts.request.targets:
        row = facts.targets[target.target_id]
        assert row["split"] == "retain" and row["repetitions"] >= 8 and row["family"] == "qa"
        assert target.answer == row["answer"] and target.question == row["question"]
    probes = [p.row["item_id"] for p in facts.trained + facts.evaluated]
    assert len(probes) == len(set(probes))  # each probe trained or evaluated, once
    assert not {r["item_id"] for r in facts.targets.values()} & set(probes)
    for target in facts.request.targets:
        for role in ("subject", "object"):
            trained = [
                p for p in facts.trained if (p.target_id, p.role) == (target.target_id, role)
            ]
            evaluated = [p for p in facts.evaluated
                         if (p.target_id, p.role) == (target.target_id, role)]  # fmt: skip
            assert len(evaluated) >= 1 and len(trained) == (len(trained) + len(evaluated)) // 2
    rest = {r["item_id"] for r in facts.rest}
    assert not rest & (set(probes) | {r["item_id"] for r in facts.targets.values()})


def test_no_generated_question_is_an_evaluation_question(tiny_world) -> None:
    facts = draw_world_facts(tiny_world, 2, seed=0, answers=everything)
    asked = [q.text for q in facts.request.evaluation]
    written = TemplateQuestionWriter(WORLD_GENERATOR, asked).questions(
        facts.request.targets, per_variant=10, seed=0
    )
    assert written and asked
    assert not {normalise_answer(q.text) for q in written} & {normalise_answer(t) for t in asked}


def test_a_fact_the_model_does_not_answer_is_never_a_target(tiny_world) -> None:
    seen: dict[str, bool] = {}

    def every_other(rows):  # noqa: ANN001, ANN202
        out = [(i + len(seen)) % 2 == 0 for i in range(len(rows))]
        seen.update({r["item_id"]: a for r, a in zip(rows, out, strict=True)})
        return out

    facts = draw_world_facts(tiny_world, 1, seed=0, answers=every_other)
    assert all(seen[row["item_id"]] for row in facts.targets.values())


def test_too_many_targets_is_one_error(tiny_world) -> None:
    with pytest.raises(DrawError, match="too few retained facts"):
        draw_world_facts(tiny_world, 500, seed=0, answers=everything)
