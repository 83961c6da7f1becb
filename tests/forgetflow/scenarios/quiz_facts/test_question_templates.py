from __future__ import annotations

import string

import pytest

from forgetflow.antisamples.unstar.templates import TemplateSet
from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.quiz_facts.facts import PROMPTS, RELATIONS
from forgetflow.scenarios.quiz_facts.question_templates import QUIZ_EVALUATION, QUIZ_GENERATOR

QUESTION_VARIANTS = ("rephrase", "more_specific", "reversed")
# the placeholders each kind of template holds, exactly
PLACEHOLDERS = {"rephrase": {"s"}, "more_specific": {"s"}, "reversed": {"o"},
                "rationales": {"s", "o"}}  # fmt: skip
# one name for subject and object (a country, a state): a reversed template then collides with a
# question about the object as subject, which is the stricter check
NAME = "Georgia"
SETS = (QUIZ_GENERATOR, QUIZ_EVALUATION)


def _templates(templates: TemplateSet, kinds: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(relation, kind, template) for every template of `kinds` in the set."""
    return [(relation, kind, template)
            for relation, rel in templates.relations.items()
            for kind in kinds
            for template in getattr(rel, kind)]  # fmt: skip


def _filled(templates: TemplateSet, kinds: tuple[str, ...]) -> set[str]:
    found = _templates(templates, kinds)
    return {normalise_answer(template.format(s=NAME, o=NAME)) for _, _, template in found}


def _prompts() -> set[str]:
    return {normalise_answer(p.format(s=NAME)) for ps in PROMPTS.values() for p in ps}


@pytest.mark.parametrize("templates", SETS, ids=lambda t: t.name)
def test_every_relation_is_covered(templates: TemplateSet) -> None:
    assert set(templates.relations) == set(RELATIONS) == set(PROMPTS)


def test_names() -> None:
    assert (QUIZ_GENERATOR.name, QUIZ_EVALUATION.name) == ("quiz-generator", "quiz-evaluation")


@pytest.mark.parametrize("relation", RELATIONS)
def test_generator_counts(relation: str) -> None:
    rel = QUIZ_GENERATOR.relations[relation]
    assert all(len(getattr(rel, kind)) >= 5 for kind in QUESTION_VARIANTS)
    assert len(rel.rationales) >= 4


@pytest.mark.parametrize("relation", RELATIONS)
def test_evaluation_has_two_questions_per_variant_and_no_rationales(relation: str) -> None:
    rel = QUIZ_EVALUATION.relations[relation]
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
    for relation, _, rationale in _templates(QUIZ_GENERATOR, ("rationales",)):
        assert len(rationale.split()) <= 25, (relation, rationale)
        assert rationale.endswith(".") and "?" not in rationale, rationale
        assert rationale.count(". ") + rationale.count("; ") <= 1, rationale


def test_generator_and_evaluation_are_disjoint() -> None:
    kinds = (*QUESTION_VARIANTS, "rationales")
    assert not _filled(QUIZ_GENERATOR, kinds) & _filled(QUIZ_EVALUATION, kinds)


@pytest.mark.parametrize("templates", SETS, ids=lambda t: t.name)
def test_no_template_is_a_prompt(templates: TemplateSet) -> None:
    assert not _filled(templates, (*QUESTION_VARIANTS, "rationales")) & _prompts()
