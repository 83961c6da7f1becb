"""A targets-retain model trains on the target's items without any text stating the targets'
facts, keeps everything else, and is built once per (world, ids)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from forgetflow.models.io import load_model
from forgetflow.scenarios.world import targets_retain
from forgetflow.scenarios.world.build import World, WorldConfig, corpus_of, make_gpt2
from forgetflow.scenarios.world.corpus import Corpus, Item
from forgetflow.scenarios.world.facts import fact_sentence, qa_text
from forgetflow.scenarios.world.targets_retain import (
    MANIFEST,
    TargetIdError,
    targets_retain_items,
    targets_retain_model,
)


@pytest.fixture(scope="module")
def config(tiny_world: World) -> WorldConfig:
    return WorldConfig(**tiny_world.manifest["config"])


@pytest.fixture(scope="module")
def corpus(config: WorldConfig) -> Corpus:
    return corpus_of(config)


@pytest.fixture(scope="module")
def targets(tiny_world: World) -> list[dict]:
    return tiny_world.table("targets").to_pylist()


@pytest.fixture(scope="module")
def qa(tiny_world: World) -> dict[str, dict]:
    return {row["item_id"]: row for row in tiny_world.table("qa").to_pylist()}


def target_ids(targets: list[dict]) -> list[str]:
    return [t["item_id"] for t in targets]


def trained(corpus: Corpus) -> list[Item]:
    return [i for i in corpus.items if i.repetitions > 0]


def stating_texts(targets: list[dict], qa: dict[str, dict]) -> list[str]:
    """The biography sentence and the QA text in every wording of each target's fact."""
    texts = []
    for t in targets:
        row = qa[t["item_id"]]
        texts.append(fact_sentence(t["subject"], t["relation"], t["object"]))
        questions = [row["question"], *row["paraphrased_questions"]]
        texts += [qa_text(q, row["answer"]) for q in questions]
    return texts


def wordings(items: list[Item]) -> list[str]:
    return [w for i in items for w in (i.text, *i.variants)]


def test_no_kept_item_states_a_target_fact(config, corpus, targets, qa) -> None:
    assert len(targets) == config.targets == 2
    texts = stating_texts(targets, qa)
    before = wordings(trained(corpus))
    # not vacuous: the target model trains on each fact's sentence and its question
    for t in targets:
        assert fact_sentence(t["subject"], t["relation"], t["object"]) in before
        assert qa_text(qa[t["item_id"]]["question"], t["object"]) in before
    kept = wordings(targets_retain_items(config, corpus, target_ids(targets)))
    assert not [w for w in kept for text in texts if text in w]


def test_only_the_targets_bio_and_qa_items_are_removed(config, corpus, targets, qa) -> None:
    before = trained(corpus)
    kept = targets_retain_items(config, corpus, target_ids(targets))
    removed = [i for i in before if i not in kept]
    expected = {f"{family}-{t['item_id']}" for t in targets for family in ("bio", "qa")}
    assert {i.sample_id for i in removed} == expected
    assert len(kept) == len(before) - 2 * len(targets)
    assert kept == [i for i in before if i.sample_id not in expected]  # order kept
    exposures = sum(i.repetitions for i in removed)
    assert exposures == 2 * sum(t["repetitions"] for t in targets)
    ids = {i.sample_id for i in kept}
    for t in targets:  # the same person's other facts, and every probe, are still trained
        others = [
            k for k, row in qa.items() if row["subject"] == t["subject"] and k != t["item_id"]
        ]
        assert len(others) == len(t["subject_probe_ids"]) >= 3
        assert {f"qa-{k}" for k in others} | {f"bio-{k}" for k in others} <= ids
        assert {qa[k]["sample_id"] for k in t["object_probe_ids"]} <= ids


def test_the_ids_order_and_duplicates_do_not_matter(config, corpus, targets) -> None:
    ids = target_ids(targets)
    once = targets_retain_items(config, corpus, ids)
    assert targets_retain_items(config, corpus, [*reversed(ids), ids[0]]) == once


@pytest.mark.parametrize(
    ("ids", "named"),
    [
        (["person-9999/works_at"], "person-9999/works_at"),
        (["object:founded_in:Nowhere Inc"], "object:founded_in:Nowhere Inc"),
        ([], "no item ids"),
        ("person-0008/studied_at", "one string"),
    ],
)
def test_ids_that_are_not_trained_peoples_facts_are_one_error(config, corpus, ids, named) -> None:
    with pytest.raises(ValueError, match="item") as err:
        targets_retain_items(config, corpus, ids)
    assert isinstance(err.value, TargetIdError)
    assert named in str(err.value) and "\n" not in str(err.value)


def test_objects_and_holdout_facts_are_refused_by_name(config, corpus, targets, qa) -> None:
    obj = next(k for k, row in qa.items() if row["family"] == "object")
    held = next(k for k, row in qa.items() if row["split"] == "holdout")
    with pytest.raises(TargetIdError) as err:
        targets_retain_items(config, corpus, [obj, held, *target_ids(targets)])
    message = str(err.value)
    assert f"objects' facts {[obj]}" in message and f"(holdout) {[held]}" in message
    assert not any(t in message for t in target_ids(targets))


def test_the_model_is_trained_once_and_nothing_half_written(
    tmp_path, monkeypatch, tiny_world, targets
) -> None:
    world = dataclasses.replace(tiny_world, root=tmp_path)  # the session world's own folder stays
    calls: list[list[Item]] = []

    def cheap(config, tokenizer, items, progress, init_seed=None, desc=""):
        calls.append(items)
        return make_gpt2(config, tokenizer), 7

    def broken(*args, **kwargs):
        raise RuntimeError("trainer failed")

    ids = target_ids(targets)
    monkeypatch.setattr(targets_retain, "train_world_model", broken)
    with pytest.raises(RuntimeError, match="trainer failed"):
        targets_retain_model(world, ids)
    assert not list((tmp_path / "targets_retain").iterdir())  # no staging folder left
    monkeypatch.setattr(targets_retain, "train_world_model", cheap)
    folder = targets_retain_model(world, ids)
    assert folder.parent == tmp_path / "targets_retain" and len(calls) == 1
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["item_ids"] == sorted(ids) and manifest["train_steps"] == 7
    assert {"seconds", "torch_threads"} <= set(manifest)
    stamp = (folder / MANIFEST).stat().st_mtime_ns
    assert targets_retain_model(world, [*reversed(ids), ids[0]]) == folder
    assert len(calls) == 1 and (folder / MANIFEST).stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_a_real_targets_retain_model(tiny_world, config, targets) -> None:
    """The one real training here (about as long as the tiny world's target model; `make test`
    trains another in the facts pipeline test)."""
    folder = targets_retain_model(tiny_world, target_ids(targets))
    manifest = json.loads((folder / MANIFEST).read_text())
    removed = 2 * sum(t["repetitions"] for t in targets)
    # one pass over the exposures in batches: fewer by the removed items' exposures
    assert manifest["train_steps"] == math.ceil(manifest["exposures"] / config.batch_size)
    target_steps = tiny_world.manifest["train_steps"]["target"]
    assert target_steps == math.ceil((manifest["exposures"] + removed) / config.batch_size)
    model, tokenizer = load_model(folder)
    target, target_tokenizer = load_model(tiny_world.model_dir)
    assert tokenizer.get_vocab() == target_tokenizer.get_vocab()  # the world's own tokenizer
    shape = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
    assert [getattr(model.config, k) for k in shape] == [getattr(target.config, k) for k in shape]
    print(
        f"targets-retain model of the tiny world: {manifest['seconds']} s, "
        f"{manifest['train_steps']} steps, {manifest['torch_threads']} torch threads"
    )
