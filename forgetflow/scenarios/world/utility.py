"""The world's utility sets: data no unlearning method trains on (the pipeline's splits are the
world's profiles; its people's facts and background text are never in them).

- general text: the background passages held out of training (`background_eval`);
- `retain_facts`: the retain people's facts, asked with their first untrained paraphrase (their
  own question where every paraphrase was trained), the fine-grained targets left out: always in
  model utility (TOFU's retain set);
- `objects`: the objects' own facts ("In which state is Calvinland?"), general knowledge of the
  world asked with their own question, as TOFU asks its world facts: in model utility only where
  the before model answers at least half of them;
- `holdout_facts`: the holdout people's facts, which no model saw: a control, never in model
  utility;
- `forget_facts`: the forget people's facts, asked with their own question (what the target
  was trained on): forget quality and forget ROUGE-L.

Every fact carries its paraphrased answer, its perturbed answers and, for multiple choice, its
answer and perturbed answers in a seeded order.
"""

from __future__ import annotations

import random

import pyarrow.compute as pc

from forgetflow.scenarios.world.build import World
from forgetflow.utility.sets import QAItem, QASet, Role, TextSet

# (set name, role, the qa table's family and split, asked with an untrained paraphrase)
WORLD_SETS: tuple[tuple[str, Role, str, str, bool], ...] = (
    ("retain_facts", "retain", "qa", "retain", True),
    ("objects", "retain", "object", "retain", False),
    ("holdout_facts", "control", "qa", "holdout", False),
    ("forget_facts", "forget", "qa", "forget", False),
)


def general_text(world: World) -> TextSet:
    items = world.table("items")
    held = items.filter(pc.equal(items["split"], "background_eval"))["text"].to_pylist()
    return TextSet("background_eval", tuple(held), str(world.root / "items.parquet"))


def fact_item(row: dict, paraphrased: bool, rng: random.Random) -> QAItem:
    """A qa table row as a utility item: asked with its first untrained paraphrase (when
    `paraphrased` and it has one), the other paraphrases kept; choices in a seeded order."""
    questions = list(row["paraphrased_questions"])
    untrained = questions[row["trained_paraphrases"] :]
    question = untrained[0] if paraphrased and untrained else row["question"]
    choices = [row["answer"], *row["perturbed_answers"]]
    rng.shuffle(choices)
    return QAItem(row["item_id"], question, row["answer"], row["paraphrased_answer"],
                  tuple(row["perturbed_answers"]), tuple(choices),
                  tuple(q for q in untrained if q != question), row["repetitions"])  # fmt: skip


def world_qa_sets(world: World, seed: int) -> list[QASet]:
    """The world's QA sets (WORLD_SETS), the targets left out of every set."""
    rng = random.Random(seed)
    rows = world.table("qa").to_pylist()
    targets = set(world.table("targets")["item_id"].to_pylist())
    source = str(world.root / "qa.parquet")
    out = []
    for name, role, family, split, paraphrased in WORLD_SETS:
        chosen = [r for r in rows if (r["family"], r["split"]) == (family, split)
                  and r["item_id"] not in targets]  # fmt: skip
        items = tuple(fact_item(r, paraphrased, rng) for r in chosen)
        if items:  # the retain people's facts were trained on: model utility's retain set
            out.append(QASet(name, role, items, source, gated=name != "retain_facts"))
    return out
