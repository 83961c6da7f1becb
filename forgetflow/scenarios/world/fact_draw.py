"""A facts request drawn from a built world at request time: K targets (seeded) among the
retained people's facts seen at least `min_repetitions` times that the model answers, each with
its keep-probes (the subject's other facts, the object's other people and its own fact) split
with the seed into a trained half (rows a method with a retain term may train on) and an
evaluated half (asked with their untrained paraphrase); and the rest of the retain QA, which no
method trains on here."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.facts import Question
from forgetflow.antisamples.unstar.keep import DrawnFacts, KeepProbe, split_probes
from forgetflow.antisamples.unstar.probe import ask
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.generation.hf import HFBackend
from forgetflow.hashing import stable_seed
from forgetflow.lm.prompts import question_style
from forgetflow.scenarios.world.build import World
from forgetflow.scenarios.world.fact_request import evaluation_questions, world_target
from forgetflow.scenarios.world.facts import OBJECT_RELATIONS
from forgetflow.scenarios.world.question_templates import WORLD_EVALUATION, WORLD_GENERATOR

MIN_REPETITIONS = 8
Answers = Callable[[Sequence[dict]], list[bool]]  # whether the model answers each qa row


class DrawError(ValueError):
    """The world has too few qualifying facts for the request."""


def probes_of(row: dict, rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """A fact's subject probes (the subject's other facts) and object probes (other people
    with the same object on the relation, and the object's own fact)."""
    subject = [r for r in rows if r["subject"] == row["subject"] and r["item_id"] != row["item_id"]]
    own = f"object:{OBJECT_RELATIONS.get(row['relation'])}:{row['answer']}"
    same = [r for r in rows if r["relation"] == row["relation"] and r["answer"] == row["answer"]
            and r["subject"] != row["subject"] and r["family"] == "qa"]  # fmt: skip
    return subject, same + [r for r in rows if r["item_id"] == own]


def untrained(row: dict) -> str:
    """A qa row's first untrained paraphrase."""
    return row["paraphrased_questions"][row["trained_paraphrases"]]


def model_answers(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, paraphrase: bool = True
) -> Answers:
    """Whether the model answers each qa row on its question and (`paraphrase`) on its untrained
    paraphrase too, so that its evaluation's rephrasings can qualify."""
    per_row = 2 if paraphrase else 1

    def answers(rows: Sequence[dict]) -> list[bool]:
        asked = [Question(r["item_id"], text, "rephrase", r["answer"])
                 for r in rows for text in (r["question"], untrained(r))[:per_row]]  # fmt: skip
        _, given = ask(HFBackend(model, tokenizer), asked, style=question_style(tokenizer))
        return [all(given[per_row * i : per_row * (i + 1)]) for i in range(len(rows))]

    return answers


def candidates(rows: Sequence[dict], min_repetitions: int) -> list[dict]:
    return [r for r in rows if r["family"] == "qa" and r["split"] == "retain"
            and r["repetitions"] >= min_repetitions]  # fmt: skip


def pick_targets(world: World, k: int, seed: int, answers: Answers, min_reps: int) -> list[dict]:
    """`k` candidates in a seeded order that the model answers, each with two object probes or
    more; no fact is a target or a probe of two targets (so a probe trained for one target is
    never evaluated for another)."""
    rows = world.table("qa").to_pylist()
    pool = candidates(rows, min_reps)
    random.Random(stable_seed(seed, "facts request")).shuffle(pool)
    chosen: list[dict] = []
    taken: set[str] = set()
    for start in range(0, len(pool), 4 * k):
        batch = [r for r in pool[start : start + 4 * k] if r["item_id"] not in taken]
        for row, known in zip(batch, answers(batch), strict=True):
            subject, obj = probes_of(row, rows)
            probes = {r["item_id"] for r in subject + obj}
            own = probes | {row["item_id"]}
            if known and len(chosen) < k and len(obj) >= 2 and not own & taken:
                chosen.append(row)  # no fact is the target or a probe of two targets
                taken |= own
        if len(chosen) == k:
            return chosen
    raise DrawError(
        f"only {len(chosen)} of {k} targets: the world has too few retained facts seen >= "
        f"{min_reps} times that the model answers; ask for fewer targets or a bigger world"
    )


def draw_world_facts(
    world: World, k: int, seed: int, answers: Answers, min_repetitions: int = MIN_REPETITIONS
) -> DrawnFacts:
    rows = world.table("qa").to_pylist()
    names = frozenset(r["subject"] for r in rows)
    chosen = pick_targets(world, k, seed, answers, min_repetitions)
    trained: list[KeepProbe] = []
    evaluated: list[KeepProbe] = []
    targets, questions = {}, []
    for row in chosen:
        target = world_target(row, seed, names)
        targets[target.target_id] = row
        questions += evaluation_questions(target, row, WORLD_EVALUATION, seed)
        for role, probes in zip(("subject", "object"), probes_of(row, rows), strict=True):
            train, keep = split_probes(target.target_id, role, probes, seed)
            trained += train
            evaluated += keep
    used = {r["item_id"] for r in chosen} | {p.row["item_id"] for p in trained + evaluated}
    rest = tuple(r for r in rows if r["split"] == "retain" and r["item_id"] not in used)
    keep = tuple(Question(p.target_id, untrained(p.row), f"keep_{p.role}", p.row["answer"])
                 for p in evaluated)  # fmt: skip
    request = FactRequest(tuple(world_target(r, seed, names) for r in chosen), WORLD_GENERATOR,
                          tuple(questions), keep)  # fmt: skip
    return DrawnFacts(request, targets, tuple(trained), tuple(evaluated), rest)
