from __future__ import annotations

from collections.abc import Sequence

import pytest

from forgetflow.antisamples.unstar.request import request_from_json, request_to_json
from forgetflow.antisamples.unstar.template_writers import TemplateQuestionWriter
from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.quiz_facts.fact_request import quiz_fact_request
from forgetflow.scenarios.quiz_facts.facts import RealFact, build_probes, load_facts


def knows_all(facts: Sequence[RealFact], wording: int) -> list[bool]:
    return [True] * len(facts)


@pytest.fixture(scope="module")
def drawn():  # noqa: ANN201
    facts = load_facts()
    return quiz_fact_request(build_probes(facts, knows_all, targets=3, seed=0), facts, seed=0)


def test_targets_are_the_probe_sets_capitals_with_same_type_falsified_answers(drawn) -> None:  # noqa: ANN001
    targets = drawn.request.targets
    assert len(targets) == 3 and {t.relation for t in targets} == {"capital"}
    for target in targets:
        assert target.answer in target.accepted
        assert not set(target.accepted) & set(target.alternatives)  # never the true answer
        assert target.subject not in target.subjects and len(target.alternatives) > 100


def test_no_evaluation_question_is_a_training_question(drawn) -> None:  # noqa: ANN001
    request = drawn.request
    writer = TemplateQuestionWriter(request.generator, [q.text for q in request.evaluation])
    trained = [q.text for q in writer.questions(request.targets, 5, 0)]
    trained += [t.question for t in request.targets] + [p.row["question"] for p in drawn.trained]
    asked = [q.text for q in request.evaluation + request.keep] + [
        r["question"] for r in drawn.rest
    ]
    assert {normalise_answer(q) for q in asked}.isdisjoint(normalise_answer(q) for q in trained)


def test_keep_probes_split_into_disjoint_halves_by_role(drawn) -> None:  # noqa: ANN001
    trained = {(p.target_id, p.row["item_id"]) for p in drawn.trained}
    evaluated = {(p.target_id, p.row["item_id"]) for p in drawn.evaluated}
    assert trained and evaluated and not trained & evaluated
    assert {q.variant for q in drawn.request.keep} == {"keep_subject", "keep_answer"}
    # each target's subject probe (its continent) is evaluated, half its answer neighbours trained
    for target in drawn.request.targets:
        roles = [p.role for p in drawn.trained if p.target_id == target.target_id]
        assert roles.count("answer") == 3 and "subject" not in roles
    used = {r for _, r in trained | evaluated} | {r["item_id"] for r in drawn.targets.values()}
    assert used.isdisjoint(r["item_id"] for r in drawn.rest)


def test_the_request_survives_its_json(drawn) -> None:  # noqa: ANN001
    assert request_from_json(request_to_json(drawn.request)) == drawn.request
