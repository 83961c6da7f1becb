"""The world's UnSTAR template sets: the generator and evaluation sets are well formed, cover
every relation, share no question and repeat none of the world model's own wordings."""

from __future__ import annotations

from forgetflow.antisamples.unstar.templates import template_problems
from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.world.facts import _WORDINGS
from forgetflow.scenarios.world.question_templates import WORLD_EVALUATION, WORLD_GENERATOR

NAME = "Avery Quinn"


def test_the_world_template_sets_have_no_problem() -> None:
    texts = [t for w in _WORDINGS.values() for t in (*w.questions, w.sentence, w.answer_sentence)]
    known = {normalise_answer(text.format(s=NAME, o=NAME)) for text in texts}
    assert template_problems(WORLD_GENERATOR, WORLD_EVALUATION, known, NAME) == []
    assert set(WORLD_GENERATOR.relations) == set(_WORDINGS)
    assert (WORLD_GENERATOR.name, WORLD_EVALUATION.name) == ("world-generator", "world-evaluation")
