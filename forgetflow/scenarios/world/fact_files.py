"""A world's facts request on disk, built once per (world, targets, repetitions, seed): the
forget set (the targets as QA rows, their non-reversed evaluation questions as untrained
paraphrases, which the audit asks), the retain set (the trained keep-probes), the holdout (the
holdout people's facts, never trained: the non-members), `request.json` (the targets, the
generator's templates, the evaluation questions and the evaluated keep-probes) and, unless
turned off, the targets-retain model (the world's model trained without the targets' facts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from forgetflow.antisamples.unstar.keep import DrawnFacts
from forgetflow.antisamples.unstar.request import request_to_json
from forgetflow.hashing import content_key
from forgetflow.models.io import load_model
from forgetflow.scenarios.build import build_once
from forgetflow.scenarios.request_files import (
    SPLIT_FILES,
    asked_paraphrases,
    qa_row,
    write_request_files,
)
from forgetflow.scenarios.world.build import World
from forgetflow.scenarios.world.fact_draw import draw_world_facts, model_answers
from forgetflow.scenarios.world.targets_retain import targets_retain_model

FACTS_FORMAT = 1


@dataclass(frozen=True)
class FactDraw:
    """What a world's facts request is drawn with."""

    targets: int
    min_repetitions: int
    seed: int
    paraphrase: bool = True  # a target is answered on its untrained paraphrase too


@dataclass(frozen=True)
class FactFiles:
    folder: Path
    splits: dict[str, Path]
    request: Path
    item_ids: tuple[str, ...]  # the targets' qa item ids (the targets-retain model's key)


def split_rows(world: World, facts: DrawnFacts) -> dict[str, list[dict]]:
    asked = asked_paraphrases(facts.request)
    forget = [qa_row(t, row, asked.get(t, [])) for t, row in facts.targets.items()]
    retain = [qa_row(f"keep-{p.row['item_id']}", p.row, []) for p in facts.trained]
    holdout = [qa_row(f"holdout-{r['item_id']}", r, [])
               for r in world.table("qa").to_pylist()
               if r["split"] == "holdout" and r["family"] == "qa"]  # fmt: skip
    return {"forget": forget, "retain": retain, "holdout": holdout}


def write_facts(world: World, draw: FactDraw, staging: Path) -> None:
    model, tokenizer = load_model(world.model_dir)
    answers = model_answers(model, tokenizer, draw.paraphrase)
    facts = draw_world_facts(world, draw.targets, draw.seed, answers, draw.min_repetitions)
    request = request_to_json(facts.request) | {
        "item_ids": [row["item_id"] for row in facts.targets.values()]}  # fmt: skip
    write_request_files(staging, SPLIT_FILES, split_rows(world, facts), request)


def build_world_facts(
    world: World, draw: FactDraw, targets_retain: bool
) -> tuple[FactFiles, Path | None]:
    """The request's files (drawn once, then reused) and its targets-retain model (or None)."""
    key = content_key({"world": world.manifest["content_key"], "format": FACTS_FORMAT,
                       "targets": draw.targets, "min_repetitions": draw.min_repetitions,
                       "seed": draw.seed, "paraphrase": draw.paraphrase})  # fmt: skip
    folder = world.root / "requests" / f"facts-{key}"
    if not (folder / "request.json").is_file():
        build_once(folder, lambda staging: write_facts(world, draw, staging))
    item_ids = tuple(json.loads((folder / "request.json").read_text())["item_ids"])
    files = FactFiles(folder, {s: folder / f for s, f in SPLIT_FILES.items()},
                      folder / "request.json", item_ids)  # fmt: skip
    return files, targets_retain_model(world, list(item_ids)) if targets_retain else None
