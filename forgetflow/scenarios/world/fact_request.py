"""The world's fine-grained targets as a facts request for UnSTAR: each target's question, its
same-type alternatives (the relation's pool), its evaluation distractors (the item's perturbed
answers), made-up names as falsified subjects of reversed questions, and the evaluation
questions (the item's untrained paraphrase and the world's evaluation templates), which the
generator's templates never repeat."""

from __future__ import annotations

import random

import pyarrow as pa

from forgetflow.antisamples.unstar.facts import REVERSED, FactTarget, Question
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.templates import TemplateSet, noisy
from forgetflow.data.pii import make_faker
from forgetflow.hashing import stable_seed
from forgetflow.scenarios.world.build import World
from forgetflow.scenarios.world.facts import ANSWER_POOLS, object_pool
from forgetflow.scenarios.world.question_templates import WORLD_EVALUATION, WORLD_GENERATOR

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


def world_targets(world: World, seed: int) -> list[tuple[FactTarget, dict]]:
    """Each of the world's built-in targets with its qa row."""
    qa = {row["item_id"]: row for row in world.table("qa").to_pylist()}
    names = frozenset(row["subject"] for row in qa.values())
    return [(world_target(qa[row["item_id"]], seed, names), qa[row["item_id"]])
            for row in world.table("targets").to_pylist()]  # fmt: skip


def evaluation_questions(
    target: FactTarget, item: dict, templates: TemplateSet, seed: int
) -> list[Question]:
    """The item's untrained paraphrases (rephrasings) and the evaluation templates' questions,
    noisy ones from its rephrasings."""
    forms = templates.relations[target.relation]
    untrained = item["paraphrased_questions"][item["trained_paraphrases"] :]
    rephrase = [*untrained, *(t.format(s=target.subject) for t in forms.rephrase)]
    rng = random.Random(stable_seed(seed, target.target_id, "evaluation"))
    texts = {"rephrase": rephrase,
             "more_specific": [t.format(s=target.subject) for t in forms.more_specific],
             "noisy": [noisy(q, rng, (target.subject,)) for q in rephrase],
             REVERSED: [t.format(o=target.answer) for t in forms.reversed]}  # fmt: skip
    return [Question(target.target_id, text, variant,
                     target.subject if variant == REVERSED else target.answer)
            for variant, questions in texts.items() for text in questions]  # fmt: skip


def world_fact_request(
    world: World, seed: int, generator: TemplateSet = WORLD_GENERATOR,
    evaluation: TemplateSet = WORLD_EVALUATION,
) -> FactRequest:  # fmt: skip
    pairs = world_targets(world, seed)
    questions = [q for t, item in pairs for q in evaluation_questions(t, item, evaluation, seed)]
    return FactRequest(tuple(t for t, _ in pairs), generator, tuple(questions))


def keep_rows(world: World) -> pa.Table:
    """The qa rows of every target's subject and object probes, with the target they keep."""
    qa = {row["item_id"]: row for row in world.table("qa").to_pylist()}
    rows = []
    for target in world.table("targets").to_pylist():
        for role in ("subject", "object"):
            for item_id in target[f"{role}_probe_ids"]:
                rows.append({**qa[item_id], "target_id": target["sample_id"], "role": role})
    return pa.Table.from_pylist(rows)
