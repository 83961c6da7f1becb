from __future__ import annotations

import string

import pytest

from forgetflow.antisamples.unstar.templates import TemplateSet
from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.world.facts import _WORDINGS
from forgetflow.scenarios.world.question_templates import WORLD_EVALUATION, WORLD_GENERATOR

QUESTION_VARIANTS = ("rephrase", "more_specific", "reversed")
# the placeholders each kind of template holds, exactly
PLACEHOLDERS = {"rephrase": {"s"}, "more_specific": {"s"}, "reversed": {"o"},
                "rationales": {"s", "o"}}  # fmt: skip
# one name for subject and object: a reversed template then collides with a question about the
# object as subject, which is the stricter check
NAME = "Avery Quinn"
SETS = (WORLD_GENERATOR, WORLD_EVALUATION)


def _templates(templates: TemplateSet, kinds: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(relation, kind, template) for every template of `kinds` in the set."""
    return [(relation, kind, template)
            for relation, rel in templates.relations.items()
            for kind in kinds
            for template in getattr(rel, kind)]  # fmt: skip


def _filled(templates: TemplateSet, kinds: tuple[str, ...]) -> set[str]:
    found = _templates(templates, kinds)
    return {normalise_answer(template.format(s=NAME, o=NAME)) for _, _, template in found}


def _wordings() -> set[str]:
    texts = [t for w in _WORDINGS.values() for t in (*w.questions, w.sentence, w.answer_sentence)]
    return {normalise_answer(text.format(s=NAME, o=NAME)) for text in texts}


@pytest.mark.parametrize("templates", SETS, ids=lambda t: t.name)
def test_every_relation_is_covered(templates: TemplateSet) -> None:
    assert set(templates.relations) == set(_WORDINGS)


def test_names() -> None:
    assert (WORLD_GENERATOR.name, WORLD_EVALUATION.name) == ("world-generator", "world-evaluation")


@pytest.mark.parametrize("relation", sorted(_WORDINGS))
def test_generator_counts(relation: str) -> None:
    rel = WORLD_GENERATOR.relations[relation]
    assert all(len(getattr(rel, kind)) >= 5 for kind in QUESTION_VARIANTS)
    assert len(rel.rationales) >= 4


@pytest.mark.parametrize("relation", sorted(_WORDINGS))
def test_evaluation_has_two_questions_per_variant_and_no_rationales(relation: str) -> None:
    rel = WORLD_EVALUATION.relations[relation]
    assert [len(getattr(rel, kind)) for kind in QUESTION_VARIANTS] == [2, 2, 2]
    assert rel.rationales == ()


@pytest.mark.parametrize("templates", SETS, ids=lambda t: t.name)
def test_placeholders_are_exactly_those_of_the_kind(templates: TemplateSet) -> None:
    for relation, kind, template in _templates(templates, tuple(PLACEHOLDERS)):
        parsed = list(string.Formatter().parse(template))
        fields = [(name, spec, conv) for _, name, spec, conv in parsed if name is not None]
        assert {name for name, _, _ in fields} == PLACEHOLDERS[kind], (relation, template)
        assert all(spec == "" and conv is None for _, spec, conv in fields), template
        literal = "".join(text for text, _, _, _ in parsed)
        assert "{" not in literal and "}" not in literal, template


@pytest.mark.parametrize("templates", SETS, ids=lambda t: t.name)
def test_questions_are_distinct_questions(templates: TemplateSet) -> None:
    for relation, rel in templates.relations.items():
        questions = [q for kind in QUESTION_VARIANTS for q in getattr(rel, kind)]
        assert all(q.endswith("?") and q.count("?") == 1 for q in questions), relation
        assert len({normalise_answer(q) for q in questions}) == len(questions), relation


def test_rationales_are_short_statements() -> None:
    for relation, _, rationale in _templates(WORLD_GENERATOR, ("rationales",)):
        assert len(rationale.split()) <= 25, (relation, rationale)
        assert rationale.endswith(".") and "?" not in rationale, rationale
        assert rationale.count(". ") + rationale.count("; ") <= 1, rationale


def test_generator_and_evaluation_are_disjoint() -> None:
    kinds = (*QUESTION_VARIANTS, "rationales")
    assert not _filled(WORLD_GENERATOR, kinds) & _filled(WORLD_EVALUATION, kinds)


@pytest.mark.parametrize("templates", SETS, ids=lambda t: t.name)
def test_no_template_is_a_world_wording(templates: TemplateSet) -> None:
    assert not _filled(templates, (*QUESTION_VARIANTS, "rationales")) & _wordings()
