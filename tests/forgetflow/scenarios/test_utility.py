"""What a source gives utility: the records scenario's quiz facts, probed on the model itself."""

from __future__ import annotations

import pytest

from forgetflow.models.io import load_model
from forgetflow.scenarios.quiz_facts.facts import load_facts, probe
from forgetflow.scenarios.utility import PERTURBED, known_quiz_facts


@pytest.mark.real_model
def test_the_quiz_facts_smollm2_answers_with_other_answers_of_their_relation(real_home) -> None:
    from forgetflow.models.names import resolve_model
    from forgetflow.models.pulled import pull

    pull("smollm2-135m-instruct", real_home)
    model_dir = resolve_model("smollm2-135m-instruct", real_home)
    known = known_quiz_facts(model_dir, seed=0)
    facts = {f.fact_id: f for f in load_facts()}
    assert known.role == "retain" and 30 <= len(known.items) < len(facts)
    chosen = [facts[i.item_id] for i in known.items]
    model, tokenizer = load_model(model_dir)
    assert all(probe(model, tokenizer, chosen))  # the model answers every one it was given
    answers = {}
    for fact in facts.values():
        answers.setdefault(fact.relation, set()).add(fact.answer)
    for item, fact in zip(known.items, chosen, strict=True):
        others = answers[fact.relation] - {fact.answer}
        assert len(set(item.perturbed_answers)) == min(PERTURBED, len(others))
        assert fact.answer not in item.perturbed_answers
        assert set(item.perturbed_answers) <= answers[fact.relation]
        assert sorted(item.choices) == sorted([fact.answer, *item.perturbed_answers])
        assert item.prompt == item.question and item.prompt.startswith(("The", fact.subject, "In"))
