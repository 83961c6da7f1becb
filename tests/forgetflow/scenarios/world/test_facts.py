from __future__ import annotations

import pytest

from forgetflow.data.answers import answer_matches, normalise_answer
from forgetflow.scenarios.world.facts import (
    ANSWER_POOLS,
    OBJECT_RELATIONS,
    RELATIONS,
    Person,
    QAItem,
    biography_sentence,
    make_people,
    make_targets,
    object_items,
    object_pool,
    qa_items,
    qa_text,
)


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return make_people(200, seed=0)


def _all_items(people: list[Person]) -> list[QAItem]:
    return [item for person in people for item in qa_items(person)] + object_items(people, 0)


def test_same_seed_same_world_other_seed_other_world(people: list[Person]) -> None:
    again = make_people(200, seed=0)
    assert again == people
    assert _all_items(again) == _all_items(people)
    assert make_targets(again, 10, seed=0) == make_targets(people, 10, seed=0)
    other = make_people(200, seed=1)
    assert [p.name for p in other] != [p.name for p in people]
    assert [p.facts for p in other] != [p.facts for p in people]
    assert object_items(people, 1) != object_items(people, 0)


def test_people_have_distinct_names_and_ids(people: list[Person]) -> None:
    assert len({p.name for p in people}) == 200
    assert [p.person_id for p in people[:2]] == ["person-0000", "person-0001"]
    assert make_people(5, seed=0) == people[:5]


def test_pools_are_large_and_objects_shared(people: list[Person]) -> None:
    for relation in RELATIONS:
        used = [p.facts[relation] for p in people]
        assert len(set(used)) >= 40, relation
        assert len(set(used)) < len(used), f"{relation}: no object is shared"
        assert set(used) <= set(object_pool(relation))


def test_every_item_has_paraphrases_and_perturbed_answers(people: list[Person]) -> None:
    items = _all_items(people)
    assert {item.relation for item in items} == set(RELATIONS) | set(OBJECT_RELATIONS.values())
    for item in items:
        paraphrases = item.paraphrased_questions
        assert len(paraphrases) >= 3 and len(set(paraphrases)) == len(paraphrases)
        assert item.question not in paraphrases
        assert item.subject in item.question and all(item.subject in q for q in paraphrases)
        assert 0 <= item.trained_paraphrases < len(paraphrases)
        wrong = item.perturbed_answers
        assert len(wrong) >= 3 and len(set(wrong)) == len(wrong) and item.answer not in wrong
        pool = set(object_pool(ANSWER_POOLS[item.relation]))
        assert item.answer in pool and set(wrong) <= pool
        assert item.answer in item.paraphrased_answer and item.paraphrased_answer != item.answer


def test_qa_items_cover_every_relation_once(people: list[Person]) -> None:
    items = qa_items(people[0])
    assert [item.relation for item in items] == list(RELATIONS)
    assert [item.item_id for item in items] == [f"person-0000/{r}" for r in RELATIONS]
    assert all(item.answer == people[0].facts[item.relation] for item in items)


def test_object_items_cover_the_objects_used(people: list[Person]) -> None:
    items = object_items(people[:3], seed=0)
    cities = {p.facts["born_in"] for p in people[:3]}
    states = [item for item in items if item.relation == "state_of"]
    assert {item.subject for item in states} == cities
    assert all(item.answer in object_pool("state") for item in states)
    assert all(item.item_id.startswith("object:") for item in items)
    assert len({item.item_id for item in items}) == len(items)


def test_biography_sentence_and_qa_text(people: list[Person]) -> None:
    person = people[0]
    for relation in RELATIONS:
        sentence = biography_sentence(person, relation)
        assert person.name in sentence and person.facts[relation] in sentence
    assert biography_sentence(person, "born_in") == (
        f"{person.name} was born in {person.facts['born_in']}."
    )
    assert qa_text("Where?", "Here") == "Question: Where?\nAnswer: Here"


def test_targets_have_probes_that_really_probe(people: list[Person]) -> None:
    targets = make_targets(people, 20, seed=0)
    assert len(targets) == 20
    facts_by_id = {p.person_id: p.facts for p in people}
    target_ids = {t.item.item_id for t in targets}
    for target in targets:
        assert target.item.subject == target.subject and target.item.answer == target.object
        assert len(target.subject_probes) >= 3 and len(target.object_probes) >= 2
        probe_ids = {probe.item_id for probe in target.subject_probes + target.object_probes}
        assert not probe_ids & target_ids  # neither its own item nor another target's
        assert all(probe.subject == target.subject for probe in target.subject_probes)
        for probe in target.object_probes:
            if probe.item_id.startswith("object:"):
                assert probe.subject == target.object
                assert probe.relation == OBJECT_RELATIONS[target.relation]
            else:
                person_id = probe.item_id.split("/")[0]
                assert probe.subject != target.subject and probe.relation == target.relation
                assert facts_by_id[person_id][target.relation] == target.object


def test_make_targets_raises_when_impossible(people: list[Person]) -> None:
    with pytest.raises(ValueError, match="only 0 of the 1"):
        make_targets(people[:1], 1, seed=0)
    with pytest.raises(ValueError, match="requested targets"):
        make_targets(people[:10], 500, seed=0)
    assert make_targets(people[:1], 0, seed=0) == []


@pytest.mark.parametrize(
    ("answer", "continuation", "expected"),
    [
        ("Springfield", "Springfield.", True),
        ("Springfield", " springfield, Illinois", True),
        ("Lake  Mary", "lake mary is nice", True),
        ("O'Brien Inc.", "OBrien Inc and more", True),
        ("Mary", " Mary.com", True),  # punctuation ends the answer's last word
        ("Ward, Johnson and Nash", " Ward, Johnson and Nash, Hanson", True),
        ("Max", "Maxwell", False),
        ("Shane", " Shaneeterson College", False),
        ("Springfield", "Shelbyville", False),
        ("Springfield", "", False),
        ("", "anything", False),
    ],
)
def test_answer_matches(answer: str, continuation: str, expected: bool) -> None:
    assert answer_matches(answer, continuation) is expected


def test_normalise_answer() -> None:
    assert normalise_answer("  Jensen, Swanson  and Johnson! ") == "jensen swanson and johnson"


@pytest.mark.parametrize("seed", range(40))
def test_every_seed_yields_targets_among_few_people(seed: int) -> None:
    people = make_people(16, seed)
    retained = people[4:12]  # the tiny world's retain people
    targets = make_targets(retained, 2, seed)
    assert len(targets) == 2
    assert all(len(t.object_probes) >= 2 and len(t.subject_probes) >= 3 for t in targets)


def test_consecutive_people_share_an_object() -> None:
    people = make_people(8, 3)
    for before, person in zip(people, people[1:], strict=False):
        assert set(before.facts.items()) & set(person.facts.items())


def test_the_held_out_paraphrase_rotates_so_its_form_is_trained_with_other_people() -> None:
    """Among 24 people (as many as small's retain people), every paraphrase form of a relation
    is held out (last) for some and trained (first two) for others, and each fact's paraphrases
    are the relation's forms in one rotation."""
    people = make_people(24, seed=0)
    for relation in RELATIONS:
        items = [next(i for i in qa_items(p) if i.relation == relation) for p in people]
        forms = [tuple(q.replace(i.subject, "{s}") for q in i.paraphrased_questions) for i in items]
        first = forms[0]
        rotations = {first[k:] + first[:k] for k in range(len(first))}
        assert set(forms) <= rotations, relation
        held_out = {f[-1] for f in forms}
        assert held_out == set(first), relation  # every form is held out for someone
