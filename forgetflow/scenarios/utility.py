"""What a data source gives utility beside the user's own files: general text and QA sets.

- the world: its held-out background passages, its people's and objects' facts
  (world/utility.py);
- the fine-tuned records (SmolLM2): GENERAL_PASSAGES passages of Debian's English sources
  (fortunes, gcide) where those packages are installed, chosen with a fixed seed, named by
  source and content hash; none of them is in the records it was fine-tuned on; and
  `quiz_facts`, the real facts (quiz_facts/) the target itself answers, probed greedily in their
  first wording, each asked as its completion prompt with three other answers of its relation
  as perturbed answers (and multiple-choice options);
- a pretrained model's quiz facts: the same Debian passages (no QA set: its known quiz facts
  hold the targets and their keep-probes);
- your own files: nothing beyond `utility.text` and `utility.qa`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from forgetflow.hashing import content_sha256
from forgetflow.models.io import load_model
from forgetflow.paths import resolve_paths
from forgetflow.scenarios.quiz_facts.facts import (
    FACTS_TSV,
    WORDINGS,
    RealFact,
    load_facts,
    probe,
    prompt,
)
from forgetflow.scenarios.records.finetune import build_records
from forgetflow.scenarios.sources import (
    DataSource,
    FactsSource,
    FinetunedSource,
    QuizFactsSource,
    WorldSource,
)
from forgetflow.scenarios.world.background import (
    SOURCES,
    BackgroundSourceError,
    background_passages,
)
from forgetflow.scenarios.world.build import build_world
from forgetflow.scenarios.world.utility import general_text, world_qa_sets
from forgetflow.utility.sets import QAItem, QASet, TextSet

GENERAL_PASSAGES = 200  # Debian passages per source for a pulled model's general text
DEBIAN_SOURCES = ("fortunes", "gcide")
PASSAGE_SEED = 17  # fixed: the same passages on every run and machine with the same packages
PERTURBED = 3  # other answers of a quiz fact's relation


def debian_text(source: str) -> TextSet | None:
    """GENERAL_PASSAGES passages of one Debian source, or None where it is not installed."""
    if source not in SOURCES:
        raise ValueError(f"unknown text source {source!r}; sources: {SOURCES}")
    try:
        passages = background_passages(source, GENERAL_PASSAGES, PASSAGE_SEED)
    except BackgroundSourceError:
        return None
    digest = content_sha256(passages)[:12]
    return TextSet(f"{source}-{digest}", tuple(passages), f"debian:{source} sha256:{digest}")


def scenario_text(source: DataSource, home: str | Path | None) -> list[TextSet]:
    """The source's general text (none for your own files)."""
    if isinstance(source, WorldSource | FactsSource):
        return [general_text(build_world(source.world, resolve_paths(home).worlds))]
    if isinstance(source, FinetunedSource | QuizFactsSource):
        return [t for t in (debian_text(s) for s in DEBIAN_SOURCES) if t is not None]
    return []


def scenario_qa(source: DataSource, home: str | Path | None, seed: int) -> list[QASet]:
    """The source's QA sets (the world's facts; the quiz facts a fine-tuned model knows)."""
    if isinstance(source, WorldSource | FactsSource):
        return world_qa_sets(build_world(source.world, resolve_paths(home).worlds), seed)
    if isinstance(source, FinetunedSource):
        return [known_quiz_facts(build_records(source.records, home).model_dir, seed)]
    return []


def quiz_item(fact: RealFact, others: Sequence[str], rng: random.Random) -> QAItem:
    """A quiz fact as a utility item: its first wording's prompt, three other answers of its
    relation as perturbed answers (fewer where the relation has fewer: a continent), all as
    choices in a seeded order."""
    pool = sorted(set(others) - {fact.answer})
    wrong = tuple(rng.sample(pool, min(PERTURBED, len(pool))))
    choices = [fact.answer, *wrong]
    rng.shuffle(choices)
    asked = prompt(fact, 0)
    paraphrases = tuple(prompt(fact, k) for k in range(1, WORDINGS))
    return QAItem(fact.fact_id, asked, fact.answer, perturbed_answers=wrong,
                  choices=tuple(choices), paraphrased_questions=paraphrases,
                  context=asked)  # fmt: skip


def known_quiz_facts(model_dir: Path, seed: int) -> QASet:
    """The quiz facts the model at `model_dir` answers greedily in their first wording."""
    facts = load_facts()
    model, tokenizer = load_model(model_dir)
    known = [f for f, ok in zip(facts, probe(model, tokenizer, facts), strict=True) if ok]
    answers: dict[str, list[str]] = {}
    for fact in facts:
        answers.setdefault(fact.relation, []).append(fact.answer)
    rng = random.Random(seed)
    items = tuple(quiz_item(f, answers[f.relation], rng) for f in known)
    return QASet("quiz_facts", "retain", items, f"{FACTS_TSV.name}, known by {model_dir}")
