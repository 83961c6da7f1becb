"""The quiz facts' UnSTAR template sets: well formed, every relation covered, no question in
both sets and none a probe prompt of the quiz facts."""

from __future__ import annotations

from forgetflow.antisamples.unstar.templates import template_problems
from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.quiz_facts.facts import PROMPTS, RELATIONS
from forgetflow.scenarios.quiz_facts.question_templates import QUIZ_EVALUATION, QUIZ_GENERATOR

NAME = "Georgia"  # a country and a state: subject and object alike


def test_the_quiz_template_sets_have_no_problem() -> None:
    known = {normalise_answer(p.format(s=NAME)) for ps in PROMPTS.values() for p in ps}
    assert template_problems(QUIZ_GENERATOR, QUIZ_EVALUATION, known, NAME) == []
    assert set(QUIZ_GENERATOR.relations) == set(RELATIONS)
    assert (QUIZ_GENERATOR.name, QUIZ_EVALUATION.name) == ("quiz-generator", "quiz-evaluation")
