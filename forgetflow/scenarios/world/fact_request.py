"""A world's fact as UnSTAR's target (`world_target`): its question, its same-type alternatives
(the relation's pool), its evaluation distractors (the item's perturbed answers), made-up names
as falsified subjects of reversed questions; and its evaluation questions (the item's untrained
paraphrases and the world's evaluation templates), which the generator's templates never
repeat. fact_draw.py draws a request's targets."""

from __future__ import annotations

from forgetflow.antisamples.unstar.facts import FactTarget, Question
from forgetflow.antisamples.unstar.templates import TemplateSet
from forgetflow.antisamples.unstar.templates import evaluation_questions as template_questions
from forgetflow.data.pii import make_faker
from forgetflow.hashing import stable_seed
from forgetflow.scenarios.world.facts import ANSWER_POOLS, object_pool

FALSE_SUBJECTS = 20  # made-up names per request: the falsified answers to reversed questions


def false_subjects(taken: set[str], n: int, seed: int) -> tuple[str, ...]:
    """`n` made-up full names, none a name the world already uses."""
    faker = make_faker(stable_seed(seed, "unstar false subjects"))
    names: list[str] = []
    while len(names) < n:
        name = f"{faker.first_name()} {faker.last_name()}"
        if name not in taken and name not in names:
            names.append(name)
    return tuple(names)


def world_target(item: dict, seed: int, taken: frozenset[str] = frozenset()) -> FactTarget:
    """A qa row of the world as a target: its id `qa-<item_id>` (its forget sample's), its
    relation's pool as alternatives, its perturbed answers as distractors, made-up names as
    falsified subjects, and its question and trained paraphrases as the phrasings it was
    learned in."""
    taken = taken | {item["subject"]} | set(object_pool("married_to"))
    return FactTarget(
        target_id=f"qa-{item['item_id']}", subject=item["subject"], relation=item["relation"],
        answer=item["answer"], question=item["question"],
        alternatives=object_pool(ANSWER_POOLS[item["relation"]]),
        distractors=tuple(item["perturbed_answers"]),
        subjects=false_subjects(set(taken), FALSE_SUBJECTS, seed),
        trained_questions=(item["question"],
                           *item["paraphrased_questions"][: item["trained_paraphrases"]]),
    )  # fmt: skip


def evaluation_questions(
    target: FactTarget, item: dict, templates: TemplateSet, seed: int
) -> list[Question]:
    """The item's untrained paraphrases (rephrasings) and the evaluation templates' questions,
    noisy ones from its rephrasings."""
    untrained = tuple(item["paraphrased_questions"][item["trained_paraphrases"] :])
    return template_questions(target, templates, seed, untrained)
