"""A fixed set of rationale requests from the quiz facts: (target, question, falsified answer)
triples for UnSTAR's rationale writers, the same wherever they are asked (the vLLM agreement test,
bench/antisamples.py).

Facts are taken round-robin over the relations (RELATIONS order, each relation's facts in the
TSV's order), so any count mixes capitals with the other relations. The question is the quiz
generator's first rephrasing; the falsified answer is the answer of the next fact of the same
relation, cyclically, that is no accepted spelling of the true answer: the TSV alone fixes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.antisamples.unstar.facts import FactTarget, Question
from forgetflow.data.answers import normalise_answer
from forgetflow.scenarios.quiz_facts.facts import RELATIONS, RealFact, load_facts
from forgetflow.scenarios.quiz_facts.question_templates import QUIZ_GENERATOR

RationaleItem = tuple[FactTarget, Question, str]  # what ModelRationaleWriter.rationales takes


def round_robin(facts: Sequence[RealFact]) -> list[RealFact]:
    """The facts interleaved by relation: each relation's first, then each one's second, ..."""
    by_relation = [[f for f in facts if f.relation == r] for r in RELATIONS]
    depth = max((len(group) for group in by_relation), default=0)
    return [group[i] for i in range(depth) for group in by_relation if i < len(group)]


def falsified_answer(fact: RealFact, relation_facts: Sequence[RealFact]) -> str:
    """The answer of the next fact of the relation (cyclically) that is not the fact's own."""
    own = {normalise_answer(spelling) for spelling in fact.accepted}
    start = relation_facts.index(fact)
    for step in range(1, len(relation_facts)):
        other = relation_facts[(start + step) % len(relation_facts)]
        if normalise_answer(other.answer) not in own:
            return other.answer
    raise ValueError(f"relation {fact.relation} has no answer other than {fact.answer!r}")


def rationale_item(fact: RealFact, relation_facts: Sequence[RealFact]) -> RationaleItem:
    """The fact as a target, its generator rephrasing as the question, a falsified answer."""
    text = QUIZ_GENERATOR.relations[fact.relation].rephrase[0].format(s=fact.subject)
    target = FactTarget(
        target_id=fact.fact_id, subject=fact.subject, relation=fact.relation, answer=fact.answer,
        question=text, accepted=fact.accepted,
    )  # fmt: skip
    question = Question(fact.fact_id, text, "rephrase", fact.answer)
    return target, question, falsified_answer(fact, relation_facts)


def rationale_items(count: int, facts: Sequence[RealFact] | None = None) -> list[RationaleItem]:
    """The first `count` rationale requests (see the module) of `facts` (default: the quiz's)."""
    facts = load_facts() if facts is None else facts
    if not 0 < count <= len(facts):
        raise ValueError(f"ask for 1 to {len(facts)} rationale items, not {count}")
    by_relation = {r: [f for f in facts if f.relation == r] for r in RELATIONS}
    return [rationale_item(f, by_relation[f.relation]) for f in round_robin(facts)[:count]]
