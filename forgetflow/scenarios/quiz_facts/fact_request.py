"""The quiz facts' probe sets (facts.build_probes) as a facts request for UnSTAR: each target a
fact the pretrained model knows (a country's capital), its evaluation questions from
QUIZ_EVALUATION (which no generator sees), and its keep-probes: the subject's other known facts
(role "subject", e.g. the country's continent) and other countries' known capitals (role
"answer", the answer neighbours: the facts that GA and NPO take with the target), split with
the seed into a trained half and an evaluated half. The other known facts are the general
retention set.

Every row is asked as a question, not as the completion prompt the facts were probed with: a
trained keep-probe with the generator's first rephrasing of its relation, an evaluated one and
a general fact with the evaluation set's first rephrasing (never trained). There is no retain
model for a pretrained model's facts: compare with the model before."""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.antisamples.unstar.facts import FactTarget, Question
from forgetflow.antisamples.unstar.keep import DrawnFacts, KeepProbe, split_probes
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.templates import evaluation_questions
from forgetflow.scenarios.quiz_facts.facts import ProbeSets, RealFact
from forgetflow.scenarios.quiz_facts.question_templates import QUIZ_EVALUATION, QUIZ_GENERATOR

ROLES = ("subject", "answer")  # a target's keep-probes: its subject's facts, other answers


def row(fact: RealFact) -> dict:
    """A fact as a row: asked with the generator's first rephrasing (`question`, what a method
    may train on) or the evaluation set's (`evaluation_question`, never trained)."""
    trained = QUIZ_GENERATOR.relations[fact.relation].rephrase[0]
    asked = QUIZ_EVALUATION.relations[fact.relation].rephrase[0]
    return {"item_id": fact.fact_id, "answer": fact.answer, "accepted": list(fact.accepted),
            "question": trained.format(s=fact.subject),
            "evaluation_question": asked.format(s=fact.subject)}  # fmt: skip


def quiz_target(fact: RealFact, facts: Sequence[RealFact]) -> FactTarget:
    """A quiz fact as a target: the relation's other answers as falsified answers, the
    relation's other subjects as falsified subjects of reversed questions, every accepted
    spelling as the answer."""
    same = [f for f in facts if f.relation == fact.relation]
    return FactTarget(
        target_id=f"quiz-{fact.fact_id}", subject=fact.subject, relation=fact.relation,
        answer=fact.answer, question=row(fact)["question"],
        alternatives=tuple(sorted({f.answer for f in same} - set(fact.accepted))),
        accepted=fact.accepted,
        subjects=tuple(sorted({f.subject for f in same} - {fact.subject})),
    )  # fmt: skip


def quiz_fact_request(sets: ProbeSets, facts: Sequence[RealFact], seed: int) -> DrawnFacts:
    """The probe sets' targets as a facts request (`facts`: every quiz fact, the pools the
    falsified answers come from)."""
    targets, questions, trained, evaluated = {}, [], [], []
    for chosen in sets.targets:
        target = quiz_target(chosen.fact, facts)
        targets[target.target_id] = row(chosen.fact)
        questions += evaluation_questions(target, QUIZ_EVALUATION, seed)
        groups = (chosen.subject_neighbours, chosen.answer_neighbours)
        for role, neighbours in zip(ROLES, groups, strict=True):
            train, keep = split_probes(target.target_id, role, [row(f) for f in neighbours], seed)
            trained += train
            evaluated += keep
    keep = tuple(keep_question(p) for p in evaluated)
    request = FactRequest(tuple(quiz_target(t.fact, facts) for t in sets.targets),
                          QUIZ_GENERATOR, tuple(questions), keep)  # fmt: skip
    rest = tuple({**r, "question": r["evaluation_question"]}
                 for r in map(row, (*sets.general, *sets.retain)))  # fmt: skip
    return DrawnFacts(request, targets, tuple(trained), tuple(evaluated), rest)


def keep_question(probe: KeepProbe) -> Question:
    return Question(probe.target_id, probe.row["evaluation_question"], f"keep_{probe.role}",
                    probe.row["answer"])  # fmt: skip
