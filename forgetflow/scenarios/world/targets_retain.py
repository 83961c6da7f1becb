"""A targets-retain model of a world: the gold standard of fine-grained (single-fact) unlearning.

UnSTAR-style methods cut K single facts of people ("targets", e.g. "person-0003/works_at") from
the world's target model while the subject, the object and the person's other facts stay known.
The model to compare them with is the target model trained again exactly as it was (the world's
config, tokenizer, initialisation seed and exposure-order rules) on its training items without
any text stating those K facts:

- the fact's QA item (its question and every trained paraphrase, one item) is removed;
- the fact's biography item is removed: a person's biography is one item per fact, each a single
  sentence `fact_sentence(subject, relation, object)`, so taking that sentence out takes the item
  out and leaves the person's other facts, the other people and the objects' own facts as they
  are. It is not replaced by a sentence with another object: that would teach the model a false
  fact about the subject, which a model that never saw the fact does not hold.

Both removed items carry the fact's r exposures, so the model sees 2r fewer exposures per target
(one pass in batches: ceil(exposures / batch_size) steps). It is built once per (world, sorted
item ids) into `world.root/targets_retain/<content key of the ids>`, beside a manifest
(`targets_retain.json`); its cost is one of the world's model trainings (about 18 s for the tiny
world on one CPU thread), and a later call returns the cached folder.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from forgetflow.hashing import content_key
from forgetflow.models.io import load_tokenizer, save_model
from forgetflow.scenarios.build import build_once, training_device
from forgetflow.scenarios.world.build import (
    World,
    WorldBuildError,
    WorldConfig,
    corpus_of,
    train_world_model,
)
from forgetflow.scenarios.world.corpus import Corpus, Item
from forgetflow.scenarios.world.facts import QAItem, fact_sentence, qa_text

MANIFEST = "targets_retain.json"
FOLDER = "targets_retain"
OBJECT_PREFIX = "object:"


class TargetIdError(ValueError):
    """Item ids that are not trained facts of people of this world."""


def trained_person_facts(corpus: Corpus) -> dict[str, QAItem]:
    """The people's facts the target model trains on, by item id (objects' facts excluded)."""
    return {q.item_id: q for _, r, q in corpus.qa
            if r > 0 and not q.item_id.startswith(OBJECT_PREFIX)}  # fmt: skip


def checked_ids(corpus: Corpus, item_ids: Sequence[str]) -> list[str]:
    """The sorted distinct ids, each a trained person's fact; else one TargetIdError line."""
    if isinstance(item_ids, str):
        raise TargetIdError(f"item_ids is one string {item_ids!r}: pass a list of item ids")
    ids = sorted(set(item_ids))
    if not ids:
        raise TargetIdError("no item ids given: name the facts to take out, e.g. the world's "
                            "targets table's item_id column ('person-0003/works_at')")  # fmt: skip
    known = {q.item_id: r for _, r, q in corpus.qa}
    facts = trained_person_facts(corpus)
    objects = [i for i in ids if i.startswith(OBJECT_PREFIX) and i in known]
    unknown = [i for i in ids if i not in known]
    untrained = [i for i in ids if i in known and i not in facts and i not in objects]
    if unknown or objects or untrained:
        raise TargetIdError(
            f"not trained facts of people of this world: unknown {unknown}, objects' facts "
            f"{objects}, never trained (holdout) {untrained}; give item ids of the qa table's "
            "rows of family 'qa' with repetitions > 0, e.g. the targets table's item_id"
        )
    return ids


def fact_texts(fact: QAItem) -> list[str]:
    """Every text that states the fact: its biography sentence and its QA text in each wording
    (the question and all its paraphrases, trained or not)."""
    questions = (fact.question, *fact.paraphrased_questions)
    sentence = fact_sentence(fact.subject, fact.relation, fact.answer)
    return [sentence, *(qa_text(q, fact.answer) for q in questions)]


def stating_items(items: Sequence[Item], facts: Sequence[QAItem]) -> list[str]:
    """The sample ids of `items` with a wording that states one of `facts` (`fact_texts`, not
    preceded by a word character: "Ann Lee was born in X." is not in "Joann Lee was born in X.")."""
    texts = sorted({text for fact in facts for text in fact_texts(fact)})
    if not texts:
        return []
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(text)}" for text in texts))
    return [i.sample_id for i in items if any(pattern.search(w) for w in (i.text, *i.variants))]


def targets_retain_items(
    config: WorldConfig, corpus: Corpus, item_ids: Sequence[str]
) -> list[Item]:
    """The target model's training items (repetitions > 0) without the bio and QA items of
    `item_ids` (people's facts); every other item stays, in its order."""
    ids = checked_ids(corpus, item_ids)
    dropped = {f"{family}-{i}" for i in ids for family in ("bio", "qa")}
    trained = [i for i in corpus.items if i.repetitions > 0]
    kept = [i for i in trained if i.sample_id not in dropped]
    if len(trained) - len(kept) != len(dropped):
        raise WorldBuildError(
            f"expected {len(dropped)} bio and qa items of {ids} among the trained items of world "
            f"{config.content_key()}, found {len(trained) - len(kept)}: the corpus changed shape"
        )
    leaks = stating_items(kept, [trained_person_facts(corpus)[i] for i in ids])
    if leaks:
        raise WorldBuildError(f"items {leaks} still state one of the facts {ids} after removal")
    return kept


def targets_retain_folder(world: World, item_ids: Sequence[str]) -> Path:
    """Where the targets-retain model of these ids lives (whether built or not)."""
    return world.root / FOLDER / content_key(sorted(set(item_ids)))


def targets_retain_model(
    world: World,
    item_ids: Sequence[str],
    progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """The world's target model trained again without the facts of `item_ids`
    (`targets_retain_items`): built once, then its cached folder is returned."""
    if isinstance(item_ids, str):
        raise TargetIdError(f"item_ids is one string {item_ids!r}: pass a list of item ids")
    folder = targets_retain_folder(world, item_ids)
    if (folder / MANIFEST).is_file():
        return folder
    config = WorldConfig(**world.manifest["config"])
    corpus = corpus_of(config)
    ids = checked_ids(corpus, item_ids)
    items = targets_retain_items(config, corpus, ids)

    def write(staging: Path) -> None:
        tokenizer = load_tokenizer(world.model_dir)
        start = time.perf_counter()
        model, steps = train_world_model(config, tokenizer, items, progress,
                                         desc="world: targets-retain model")  # fmt: skip
        seconds = time.perf_counter() - start
        save_model(model, tokenizer, staging)
        manifest = {
            "item_ids": ids,
            "world_content_key": world.manifest.get("content_key"),
            "train_steps": steps,
            "exposures": sum(i.repetitions for i in items),
            "seconds": round(seconds, 2),
            "torch_threads": torch.get_num_threads(),
            "device": training_device().type,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))

    build_once(folder, write)
    return folder
