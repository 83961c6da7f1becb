from __future__ import annotations

import pytest

from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.quiz_facts.facts import RELATIONS, RealFact, load_facts
from forgetflow.scenarios.quiz_facts.rationale_items import rationale_items


def test_items_mix_relations_and_falsify_within_the_relation() -> None:
    facts = load_facts()
    answers = {r: {f.answer for f in facts if f.relation == r} for r in RELATIONS}
    items = rationale_items(64, facts)
    assert [t.relation for t, _, _ in items[: len(RELATIONS)]] == list(RELATIONS)
    assert len({q.text for _, q, _ in items}) == 64
    for target, question, wrong in items:
        assert question.target_id == target.target_id and question.expects == target.answer
        assert target.subject in question.text and question.text.endswith("?")
        assert wrong in answers[target.relation]
        assert normalise_answer(wrong) not in {normalise_answer(a) for a in target.accepted}
    assert rationale_items(64, facts) == items  # fixed by the facts alone


def test_the_next_other_answer_is_the_falsified_one() -> None:
    facts = [RealFact("Chad", "continent", "Africa", ("Africa",), "africa"),
             RealFact("Mali", "continent", "Africa", ("Africa",), "africa"),
             RealFact("Laos", "continent", "Asia", ("Asia",), "asia")]  # fmt: skip
    assert [wrong for _, _, wrong in rationale_items(3, facts)] == ["Asia", "Asia", "Africa"]
    with pytest.raises(ValueError, match="1 to 3"):
        rationale_items(4, facts)
