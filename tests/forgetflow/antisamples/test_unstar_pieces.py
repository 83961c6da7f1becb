"""UnSTAR's rule-based pieces by construction: the template writers, the question pool and the
anti-sample builder with its leak filter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from forgetflow.antisamples.unstar.build import Writers, anti_samples, falsify
from forgetflow.antisamples.unstar.facts import VARIANTS, FactTarget, Question
from forgetflow.antisamples.unstar.pool import QuestionPool
from forgetflow.antisamples.unstar.round_zero import (
    RoundZero,
    RoundZeroError,
    Written,
    build_round,
    round_zero_from,
)
from forgetflow.antisamples.unstar.template_writers import (
    TemplateAnswerWriter,
    TemplateQuestionWriter,
    TemplateRationaleWriter,
)
from forgetflow.antisamples.unstar.templates import (
    RelationTemplates,
    TemplateSet,
    template_problems,
)
from forgetflow.data.answers import normalise_answer

TEMPLATES = TemplateSet("test", {"works_at": RelationTemplates(
    rephrase=("Who employs {s}?", "Which firm does {s} work for?", "Where is {s} employed?"),
    more_specific=("Which company pays {s} today?",),
    reversed=("Who works at {o}?", "Which person is employed by {o}?"),
    rationales=("{s} has worked at {o} for years.",),
)})  # fmt: skip
ANA = FactTarget(
    "qa-ana", "Ana Ruiz", "works_at", "Brightline", "Where does Ana Ruiz work?",
    alternatives=("Brightline", "Brightline Corp", "Northwind", "Corvex", "Quillmark"),
    distractors=("Corvex",), subjects=("Lee Park", "Ana Ruiz Jr"),
    trained_questions=("Where does Ana Ruiz work?", "Which company employs Ana Ruiz?"),
)  # fmt: skip


def test_template_questions_start_with_the_trained_phrasings_and_avoid_excluded_ones() -> None:
    writer = TemplateQuestionWriter(TEMPLATES, exclude=["who employs ana ruiz"])
    questions = writer.questions([ANA], per_variant=3, seed=0)
    rephrase = [q.text for q in questions if q.variant == "rephrase"]
    assert rephrase[:2] == list(ANA.trained_questions) and len(rephrase) == 3
    assert "who employs ana ruiz" not in {normalise_answer(q.text) for q in questions}
    assert {q.variant for q in questions} == set(VARIANTS)
    for question in questions:
        expected = ANA.subject if question.variant == "reversed" else ANA.answer
        assert question.expects == expected


def test_falsified_answers_are_never_the_answer_a_near_copy_or_a_distractor() -> None:
    got = TemplateAnswerWriter().answers([ANA], n=10, seed=0)[ANA.target_id]
    assert sorted(got) == ["Northwind", "Quillmark"]


def test_a_reversed_rationale_names_the_falsified_subject_with_the_true_object() -> None:
    reversed_ = Question(ANA.target_id, "Who works at Brightline?", "reversed", ANA.subject)
    forward = Question(ANA.target_id, "Who employs Ana Ruiz?", "rephrase", ANA.answer)
    writer = TemplateRationaleWriter(TEMPLATES)
    texts = writer.rationales([(ANA, reversed_, "Lee Park"), (ANA, forward, "Northwind")], 0)
    assert texts == ["Lee Park has worked at Brightline for years.",
                     "Ana Ruiz has worked at Northwind for years."]  # fmt: skip


def test_the_builder_rejects_leaks_with_their_reason_and_names_every_writer() -> None:
    class Leaky:
        name = "leaky"

        def rationales(self, items, seed):  # noqa: ANN001, ANN202
            return [f"Not {t.answer}, but {a}." if q.variant == "rephrase" else f"Surely {a}."
                    for t, q, a in items]  # fmt: skip

    writers = Writers(TemplateQuestionWriter(TEMPLATES), TemplateAnswerWriter(), Leaky())
    questions = writers.questions.questions([ANA], 2, seed=0)
    falsified = falsify(writers, [ANA], 4, seed=0)
    kept, rows = anti_samples({ANA.target_id: ANA}, questions, falsified, writers, seed=0)
    for row in rows:
        leaks = row["variant"] == "rephrase" or row["falsified"] == "Ana Ruiz Jr"
        assert row["accepted"] is not leaks
        assert (row["leak_reason"] or "").startswith("whole_words") is leaks
        assert (row["question_writer"], row["rationale_writer"]) == ("template:test", "leaky")
    assert len(kept) == sum(r["accepted"] for r in rows) > 0


def q(name: str, variant: str = "rephrase") -> Question:
    return Question("t", name, variant, "A")


def test_the_pool_counts_known_questions_only_and_refills_from_the_reserve() -> None:
    pool = QuestionPool([q("a"), q("b"), q("c"), q("d")], per_variant=2)
    assert [x.text for x in pool.active()] == ["a", "b"]
    # a is known, b never answered: b is unknown and c takes its place
    assert pool.record(pool.active(), [True, False]) == 0.0
    assert [x.text for x in pool.active()] == ["a", "c"] and pool.known == 1
    # a is unlearned now, c is known: half the known questions are unlearned; d refills
    assert pool.record(pool.active(), [False, True]) == 0.5
    assert [x.text for x in pool.active()] == ["c", "d"]
    assert [x.text for x in pool.retired] == ["a"] and [x.text for x in pool.unknown] == ["b"]


def test_template_problems_name_each_constructed_fault() -> None:
    five = tuple(f"Question {i} about {{s}}?" for i in range(5))
    good = RelationTemplates(five, tuple(q.replace("?", " now?") for q in five),
                             tuple(f"Who is number {i} at {{o}}?" for i in range(5)),
                             ("{s} is at {o}.",) * 4)  # fmt: skip
    evaluation = RelationTemplates(("Tell me about {s}?", "Say {s}?"), ("Exactly {s}?", "Now {s}?"),
                                   ("Who at {o}?", "Whom at {o}?"))  # fmt: skip
    generator_set, evaluation_set = (
        TemplateSet("g", {"r": good}),
        TemplateSet("e", {"r": evaluation}),
    )
    assert template_problems(generator_set, evaluation_set, set(), "X") == []
    bad_placeholder = TemplateSet("g", {"r": replace(good, rephrase=("Where is {o}?", *five[1:]))})
    leaked = TemplateSet("e", {"r": replace(evaluation, rephrase=(five[1], "Say {s}?"))})
    problems = template_problems(bad_placeholder, leaked, {"question 1 about x"}, "X")
    assert any("must hold exactly ['s']" in p for p in problems)
    assert any(p.startswith("in both g and e") for p in problems)
    assert any(p.startswith("g repeats a known wording") for p in problems)


def test_a_stored_round_zero_probes_a_question_written_twice_and_round_trips() -> None:
    """A model writer may write one question twice: round 0 asks both and stores both rows."""
    writers = Writers(TemplateQuestionWriter(TEMPLATES), TemplateAnswerWriter(), None)
    once = writers.questions.questions([ANA], 2, seed=0)
    asked = [once[0], once[0], *once[1:]]
    written = Written(tuple(asked), falsify(writers, [ANA], 4, seed=0))
    answers = [f"answer {i}" for i in (0, *range(len(once)))]  # the same answer: greedy
    given = [i % 2 == 0 for i in (0, *range(len(once)))]
    _, rows = build_round(1, {ANA.target_id: ANA}, written, writers, asked, answers, given, 1)
    zero = round_zero_from(*RoundZero(written, tuple(rows)).tables())
    assert zero.written == written
    probed, still = zero.probe(asked)
    assert still == given and probed[0] == probed[1] == "answer 0"
    with pytest.raises(RoundZeroError, match="write round 0 again"):
        zero.probe(asked[1:])
