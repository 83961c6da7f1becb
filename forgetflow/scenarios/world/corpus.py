"""The world's items: every family as rows with a split and a number of exposures.

Families: `profile` (PII records; prefix = the name line), `bio` and `qa` (a fictitious person's
facts, as a biography sentence and as "Question: ...\\nAnswer: ..."), `object` (facts about the
objects themselves, the object-only probes of fine-grained targets) and `background` (general
English for utility). People facts are split by person, as in TOFU; fine-grained targets are single
triples of retained people. Holdout items are never trained on (repetitions 0). A QA item may
carry other wordings (`variants`: its first paraphrases) that its exposures rotate through.

A retain model (`retain_training` in the world's settings) trains on the retain and background
items alone (fewer optimizer steps than the target), or, as a stand-in retain model, on
the target's stream with each forget item replaced by a stand-in (`substitute_items`): the next
profile or person of the same draw (so no name is shared with the world), with the exposures of
the forget item it replaces. It takes the target's optimizer steps on as many items of each
family: it differs from the target by what the forget items say, not by how much it trained (the
"OUT" model of membership inference).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from forgetflow.scenarios.exposures import REPETITION_CYCLE, cycle_repetitions
from forgetflow.scenarios.world.background import background_passages
from forgetflow.scenarios.world.facts import (
    Person,
    QAItem,
    Target,
    biography_sentence,
    fact_sentence,
    make_people,
    make_targets,
    object_items,
    qa_items,
    qa_text,
)
from forgetflow.scenarios.world.profiles import make_profiles

OBJECT_REPETITIONS = 4
BACKGROUND_REPETITIONS = 1


@dataclass(frozen=True)
class Item:
    sample_id: str
    family: str
    split: str  # forget | retain | holdout | background | background_eval
    repetitions: int
    text: str
    question: str = ""
    answer: str = ""
    variants: tuple[str, ...] = ()  # other wordings: exposure k trains on (text, *variants)[k % n]


@dataclass(frozen=True)
class Corpus:
    items: list[Item]
    qa: list[tuple[str, int, QAItem]]  # (split, repetitions, item): people's and objects' facts
    targets: list[Target]
    tokenizer_texts: list[str]  # a disjoint draw of the same families, to train the tokenizer

    def stand_in_training(self, substitutes: list[Item]) -> list[Item]:
        """A stand-in retain model's training items: the target's, each forget item replaced by
        its stand-in (`substitute_items`, in the forget items' order) at its place."""
        stand_ins = iter(substitutes)
        return [next(stand_ins) if i.split == "forget" else i
                for i in self.items if i.repetitions > 0]  # fmt: skip


def profile_items(counts: dict[str, int], seed: int, biography_words: int = 0) -> list[Item]:
    texts = iter(make_profiles(sum(counts.values()), seed, biography_words))
    items = []
    for split, count in counts.items():
        reps = cycle_repetitions(count) if split != "holdout" else [0] * count
        for i, r in enumerate(reps):
            items.append(Item(f"profile-{split}-{i:04d}", "profile", split, r, next(texts)))
    return items


def person_items(
    people: Sequence[Person], split: str, qa_wordings: int = 1
) -> tuple[list[Item], list]:
    """A person's facts as bio and qa items; a qa item's exposures rotate through its question
    and its first `qa_wordings - 1` paraphrases (those are its `trained_paraphrases`)."""
    trained = qa_wordings - 1
    facts = [dataclasses.replace(q, trained_paraphrases=trained)
             for p in people for q in qa_items(p)]  # fmt: skip
    # Rotate the cycle by one bucket per person: otherwise a person's k-th relation would always
    # land in bucket k, and exposures would be confounded with the kind of fact.
    reps = [0] * len(facts)
    if split != "holdout":
        per_person = len(facts) // max(1, len(people))
        cycle = REPETITION_CYCLE
        reps = [cycle[(i + i // per_person) % len(cycle)] for i in range(len(facts))]
    items, qa = [], []
    by_id = {p.person_id: p for p in people}
    for item, r in zip(facts, reps, strict=True):
        person = by_id[item.item_id.split("/")[0]]
        bio = biography_sentence(person, item.relation)
        text = qa_text(item.question, item.answer)
        variants = tuple(qa_text(q, item.answer) for q in item.paraphrased_questions[:trained])
        items.append(Item(f"bio-{item.item_id}", "bio", split, r, bio))
        items.append(Item(f"qa-{item.item_id}", "qa", split, r, text, item.question, item.answer,
                          variants))  # fmt: skip
        qa.append((split, r, item))
    return items, qa


def object_rows(people: Sequence[Person], seed: int) -> tuple[list[Item], list]:
    """The objects' own facts (trained as sentences; retained): items and QA entries."""
    facts = object_items(list(people), seed)
    items = [
        Item(f"object-{i.item_id}", "object", "retain", OBJECT_REPETITIONS,
             fact_sentence(i.subject, i.relation, i.answer), i.question, i.answer)
        for i in facts
    ]  # fmt: skip
    return items, [("retain", OBJECT_REPETITIONS, i) for i in facts]


def background_rows(source: str, train: int, held: int, seed: int) -> list[Item]:
    passages = background_passages(source, train + held, seed)
    return [
        Item(f"background-{i:04d}", "background", "background" if i < train else "background_eval",
             BACKGROUND_REPETITIONS if i < train else 0, text)
        for i, text in enumerate(passages)
    ]  # fmt: skip


def tokenizer_corpus(
    profiles: int, people: int, seed: int, biography_words: int = 0, qa_wordings: int = 1
) -> list[str]:
    """Texts of the same families but other draws, in every trained wording: the tokenizer must
    not merge member strings into single tokens, or members and non-members would not be
    tokenized alike."""
    texts = make_profiles(profiles, seed, biography_words)
    for person in make_people(people, seed):
        for item in qa_items(person):
            questions = (item.question, *item.paraphrased_questions[: qa_wordings - 1])
            texts += [biography_sentence(person, item.relation)]
            texts += [qa_text(q, item.answer) for q in questions]
    return texts


def substitute_items(
    profiles: dict[str, int],
    people: dict[str, int],
    seed: int,
    biography_words: int = 0,
    qa_wordings: int = 1,
) -> list[Item]:
    """Stand-ins for the forget items, in their order: the profiles and people drawn right after
    the world's own (the draws are prefix-stable and keep names distinct), exposed as the forget
    items are."""
    drawn = sum(profiles.values())
    texts = make_profiles(drawn + profiles["forget"], seed, biography_words)[drawn:]
    reps = cycle_repetitions(len(texts))
    items = [Item(f"profile-substitute-{i:04d}", "profile", "substitute", reps[i], text)
             for i, text in enumerate(texts)]  # fmt: skip
    everyone = sum(people.values())
    stand_ins = make_people(everyone + people["forget"], seed)[everyone:]
    rows, _ = person_items(stand_ins, "forget", qa_wordings)
    return items + [dataclasses.replace(i, split="substitute") for i in rows]


def build_corpus(
    profiles: dict[str, int],
    people: dict[str, int],
    targets: int,
    background: tuple[str, int, int],
    seed: int,
    biography_words: int = 0,
    qa_wordings: int = 1,
) -> Corpus:
    """All items of a world. `profiles`/`people` map split -> count (forget, retain, holdout)."""
    items = profile_items(profiles, seed, biography_words)
    everyone = make_people(sum(people.values()), seed)
    qa, start = [], 0
    for split, count in people.items():
        group = everyone[start : start + count]
        start += count
        rows, facts = person_items(group, split, qa_wordings)
        items += rows
        qa += facts
    retained = everyone[people["forget"] : people["forget"] + people["retain"]]
    rows, facts = object_rows(everyone, seed)
    items += rows
    qa += facts
    source, train, held = background
    items += background_rows(source, train, held, seed)
    other = seed + 7919  # any draw disjoint from the world's own
    tokenizer_texts = tokenizer_corpus(
        4 * sum(profiles.values()), 2 * sum(people.values()), other, biography_words, qa_wordings
    )
    tokenizer_texts += [i.text for i in items if i.family == "background"]
    return Corpus(items, qa, make_targets(retained, targets, seed), tokenizer_texts)
