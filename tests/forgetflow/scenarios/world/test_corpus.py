from __future__ import annotations

from collections import Counter

import pytest

from forgetflow.scenarios.world.corpus import build_corpus, substitute_items
from forgetflow.scenarios.world.facts import qa_text

PROFILES = {"forget": 12, "retain": 12, "holdout": 6}
PEOPLE = {"forget": 2, "retain": 8, "holdout": 2}


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(PROFILES, PEOPLE, 2, ("stdlib", 20, 5), seed=0)


def test_families_splits_and_exposures(corpus) -> None:
    counts = Counter((i.family, i.split) for i in corpus.items)
    assert counts[("profile", "forget")] == 12 and counts[("profile", "holdout")] == 6
    assert counts[("qa", "forget")] == counts[("bio", "forget")] == 2 * 6
    assert counts[("background", "background")] == 20
    assert counts[("background", "background_eval")] == 5
    for item in corpus.items:
        if item.split in ("holdout", "background_eval"):
            assert item.repetitions == 0
        else:
            assert item.repetitions >= 1
    profile_reps = [
        i.repetitions for i in corpus.items if i.family == "profile" and i.split == "forget"
    ]
    assert Counter(profile_reps) == {r: 2 for r in (1, 2, 4, 8, 16, 32)}
    assert len({i.sample_id for i in corpus.items}) == len(corpus.items)


def test_people_facts_are_split_by_person(corpus) -> None:
    split_of: dict[str, set[str]] = {}
    for split, _, item in corpus.qa:
        split_of.setdefault(item.subject, set()).add(split)
    assert all(len(splits) == 1 for splits in split_of.values())
    for item in corpus.items:
        if item.family == "qa":
            assert item.text == f"Question: {item.question}\nAnswer: {item.answer}"


def test_a_fact_trained_in_three_wordings_keeps_its_last_paraphrase_untrained() -> None:
    corpus = build_corpus(PROFILES, PEOPLE, 2, ("stdlib", 20, 5), seed=0, qa_wordings=3)
    trained = [t for i in corpus.items if i.repetitions > 0 for t in (i.text, *i.variants)]
    facts = [q for _, _, q in corpus.qa if not q.item_id.startswith("object:")]
    assert facts and all(q.trained_paraphrases == 2 for q in facts)
    by_id = {i.sample_id: i for i in corpus.items}
    for q in facts:
        item = by_id[f"qa-{q.item_id}"]
        asked = [q.question, *q.paraphrased_questions[:2]]
        assert (item.text, *item.variants) == tuple(qa_text(w, q.answer) for w in asked)
        untrained = q.paraphrased_questions[2]
        assert not any(untrained in text for text in trained)
    # the default trains one wording, as the world always did
    once = build_corpus(PROFILES, PEOPLE, 2, ("stdlib", 20, 5), seed=0)
    assert all(not i.variants for i in once.items)
    assert [i.text for i in once.items] == [i.text for i in corpus.items]
    # the tokenizer learns the trained wordings (of other people) too
    paraphrased = "Question: In which city was "  # born_in's first paraphrase
    assert any(t.startswith(paraphrased) for t in corpus.tokenizer_texts)
    assert not any(t.startswith(paraphrased) for t in once.tokenizer_texts)


def test_targets_are_facts_of_retained_people(corpus) -> None:
    retained = {q.subject for split, _, q in corpus.qa if split == "retain"}
    assert corpus.targets and all(t.subject in retained for t in corpus.targets)


def test_the_tokenizer_corpus_holds_no_member_text(corpus) -> None:
    members = {i.text for i in corpus.items if i.family != "background"}
    assert not members & set(corpus.tokenizer_texts)


def test_same_seed_same_corpus() -> None:
    args = ({"forget": 6, "retain": 6, "holdout": 6}, {"forget": 1, "retain": 8, "holdout": 1},
            1, ("stdlib", 5, 2))  # fmt: skip
    assert build_corpus(*args, seed=3) == build_corpus(*args, seed=3)
    assert build_corpus(*args, seed=3).items != build_corpus(*args, seed=4).items


def test_exposures_are_not_confounded_with_the_kind_of_fact(corpus) -> None:
    buckets: dict[str, set[int]] = {}
    for split, r, item in corpus.qa:
        if split == "retain" and not item.item_id.startswith("object:"):
            buckets.setdefault(item.relation, set()).add(r)
    assert all(len(rs) == 6 for rs in buckets.values())  # 8 people: every relation in every bucket


def test_a_stand_in_retain_model_trains_on_stand_ins_exposed_as_the_forget_items(corpus) -> None:
    target = [i for i in corpus.items if i.repetitions > 0]
    substitutes = substitute_items(PROFILES, PEOPLE, seed=0)
    retain = corpus.stand_in_training(substitutes)
    assert len(retain) == len(target)  # as many items, in the same places
    for mine, theirs in zip(retain, target, strict=True):
        assert (mine.family, mine.repetitions) == (theirs.family, theirs.repetitions)
        assert (mine == theirs) == (theirs.split != "forget")
    stand_ins = [i for i in retain if i.split == "substitute"]
    assert stand_ins == substitutes and len(stand_ins) == 12 + 2 * (2 * 6)
    ids = [i.sample_id for i in [*corpus.items, *stand_ins]]
    assert len(set(ids)) == len(ids)
    # no stand-in names a profile or a person of the world, the holdout's included
    name_lines = {i.text.split("\n")[0] for i in corpus.items if i.family == "profile"}
    assert not name_lines & {i.text.split("\n")[0] for i in stand_ins if i.family == "profile"}
    people = {q.subject for _, _, q in corpus.qa if not q.item_id.startswith("object:")}
    assert not any(s in i.text for s in people for i in stand_ins if i.family == "bio")
