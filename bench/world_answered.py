"""How many of a world's retain facts each model answers, per exposure bucket, asked in their
trained question and in their untrained paraphrase (the wording utility asks them in):

    python bench/world_answered.py WORLD_DIR model retain_model [OTHER_MODEL_FOLDER ...]

Model folders are named inside the world's folder (e.g. `retain_model_init1`). "Answered": the
greedy answer gives the answer (forgetflow/data/answers.py), as in utility's `answered`. Prints
a Markdown table, one row per (model, wording).
"""

from __future__ import annotations

import dataclasses
import sys
from collections import defaultdict
from pathlib import Path

from forgetflow.generation.hf import HFBackend
from forgetflow.models.io import load_model
from forgetflow.scenarios.world.build import load_world
from forgetflow.scenarios.world.utility import world_qa_sets
from forgetflow.utility.qa import score_items
from forgetflow.utility.sets import QAItem


def wordings(world_dir: Path) -> dict[str, tuple[QAItem, ...]]:
    """The retain facts as utility asks them, and the same facts in their trained question."""
    world = load_world(world_dir)
    asked = next(s for s in world_qa_sets(world, 0) if s.name == "retain_facts").items
    trained = {r["item_id"]: r["question"] for r in world.table("qa").to_pylist()}
    return {
        "untrained paraphrase": asked,
        "trained question": tuple(dataclasses.replace(i, question=trained[i.item_id])
                                  for i in asked),
    }  # fmt: skip


def row(model_dir: Path, label: str, items: tuple[QAItem, ...]) -> str:
    model, tokenizer = load_model(model_dir)
    scores = score_items(model, tokenizer, HFBackend(model, tokenizer, batch_size=16), items)
    buckets: dict[int, list[bool]] = defaultdict(list)
    for item, score in zip(items, scores, strict=True):
        buckets[item.repetitions].append(score.answered)
    shares = [f"{sum(v) / len(v):.2f}" for _, v in sorted(buckets.items())]
    overall = sum(s.answered for s in scores) / len(scores)
    return f"| {model_dir.name} | {label} | {overall:.2f} | " + " | ".join(shares) + " |"


def main(world_dir: Path, models: list[str]) -> None:
    sets = wordings(world_dir)
    facts = sets["untrained paraphrase"]
    reps = sorted({i.repetitions for i in facts})
    columns = " | ".join(f"r={r}" for r in reps)
    print(f"| model | asked in | all (n {len(facts)}) | {columns} |")
    print("|---|---|---|" + "---|" * len(reps))
    for name in models:
        for label, items in sets.items():
            print(row(world_dir / name, label, items), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python bench/world_answered.py WORLD_DIR MODEL_FOLDER [MODEL_FOLDER ...]")
    main(Path(sys.argv[1]), sys.argv[2:])
