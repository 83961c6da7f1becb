"""Tiny world acceptance: memorization spread by exposures, a retain model, determinism."""

from __future__ import annotations

import dataclasses
import json

import pytest

from forgetflow.scenarios.world.build import (
    SIZES,
    WorldConfig,
    build_world,
    corpus_of,
    train_tokenizer,
    training_sequences,
    world_config,
)
from forgetflow.scenarios.world.checks import WorldFigures, shortfalls, world_figures
from forgetflow.scenarios.world.tables import TABLE_SCHEMAS


def test_world_layout_and_manifest(tiny_world) -> None:
    manifest = json.loads((tiny_world.root / "world.json").read_text())
    assert manifest["content_key"] == WorldConfig().content_key()
    assert manifest["parameters"] < 1_200_000
    assert (tiny_world.model_dir / "model.safetensors").is_file()
    assert (tiny_world.retain_model_dir / "model.safetensors").is_file()
    items = tiny_world.table("items")
    assert {"sample_id", "family", "split", "repetitions", "text"} <= set(items.column_names)
    assert set(items["family"].to_pylist()) == {"profile", "bio", "qa", "object", "background"}
    assert len(set(items["sample_id"].to_pylist())) == items.num_rows
    qa = tiny_world.table("qa").to_pylist()
    assert all(len(q["paraphrased_questions"]) >= 3 and len(q["perturbed_answers"]) >= 3
               for q in qa)  # fmt: skip
    assert tiny_world.table("targets").num_rows >= 1


@pytest.mark.parametrize("size", sorted(SIZES))
def test_every_size_passes_the_builds_text_checks(size: str) -> None:
    """No trained text over the context, no profile under `min_profile_tokens` (the checks a
    build runs before training; base once failed them with a 199-token profile)."""
    config = world_config(size)
    corpus = corpus_of(config)
    tokenizer = train_tokenizer(corpus.tokenizer_texts, config.vocab_size)
    trained = [i for i in corpus.items if i.repetitions > 0]
    assert len(training_sequences(config, tokenizer, trained)) >= len(trained)


def test_world_tables_follow_their_schemas_and_link_up(tiny_world) -> None:
    for name, schema in TABLE_SCHEMAS.items():
        assert tiny_world.table(name).schema.equals(schema), name
        assert {"sample_id", "family", "split", "repetitions"} <= set(schema.names)
    items = {r["sample_id"]: r for r in tiny_world.table("items").to_pylist()}
    qa = tiny_world.table("qa").to_pylist()
    assert {q["family"] for q in qa} == {"qa", "object"}
    for q in qa:  # each QA row names the trained text it comes from
        item = items[q["sample_id"]]
        assert (item["question"], item["answer"], item["split"], item["repetitions"]) == (
            q["question"], q["answer"], q["split"], q["repetitions"])  # fmt: skip
    qa_ids = {q["item_id"] for q in qa}
    for target in tiny_world.table("targets").to_pylist():
        assert target["item_id"] in qa_ids and target["split"] == "retain"
        assert set(target["subject_probe_ids"] + target["object_probe_ids"]) <= qa_ids


@pytest.fixture(scope="module")
def figures(tiny_world) -> WorldFigures:
    return world_figures(tiny_world)


def test_memorization_rises_with_exposures(figures) -> None:
    buckets, holdout = figures.bucket_ma, figures.holdout_ma
    ordered = [buckets[r] for r in sorted(buckets)]
    assert sorted(buckets) == [1, 2, 4, 8, 16, 32]
    assert all(b >= a - 0.02 for a, b in zip(ordered, ordered[1:], strict=False))
    assert abs(buckets[1] - holdout) <= 0.15
    assert buckets[32] >= holdout + 0.4
    assert all(buckets[r] >= holdout + 0.2 for r in (8, 16, 32))


def test_the_most_exposed_profiles_are_extractable(figures) -> None:
    assert figures.top_extraction >= 0.9
    assert figures.retain_top_extraction == 0  # the retain model never saw them


def test_the_target_model_answers_well_exposed_questions(figures) -> None:
    assert figures.qa_exposed >= 0.9


def test_the_retain_model_knows_forget_people_no_better_than_strangers(figures) -> None:
    assert figures.retain_qa_forget <= figures.retain_qa_holdout + 0.05


def test_the_figures_of_a_good_world_show_no_shortfall(figures) -> None:
    assert shortfalls(figures) == []


def test_shortfalls_name_every_broken_promise(figures) -> None:
    flat = dataclasses.replace(
        figures,
        bucket_ma={r: figures.holdout_ma for r in figures.bucket_ma},
        top_extraction=0.5,
        qa_exposed=0.1,
        retain_qa_forget=figures.retain_qa_holdout + 0.5,
    )
    found = "\n".join(shortfalls(flat))
    for fragment in ("r=32 MA", "r=8 MA", "50% of r=32 profiles", "10% of r>=8 questions",
                     "retain model answers"):  # fmt: skip
        assert fragment in found
    falling = dataclasses.replace(figures, bucket_ma={**figures.bucket_ma, 16: 0.0})
    assert any("falls from r=8" in line for line in shortfalls(falling))


def test_same_seed_gives_identical_data_and_weights(tiny_world, tmp_path) -> None:
    again = build_world(WorldConfig(), tmp_path)
    first = json.loads((tiny_world.root / "world.json").read_text())["sha256"]
    assert json.loads((again.root / "world.json").read_text())["sha256"] == first


def test_a_built_world_is_reused_not_rebuilt(tiny_world) -> None:
    stamp = (tiny_world.model_dir / "model.safetensors").stat().st_mtime_ns
    again = build_world(WorldConfig(), tiny_world.root.parent)
    assert again.root == tiny_world.root
    assert (again.model_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_the_content_key_follows_the_settings() -> None:
    assert WorldConfig(seed=1).content_key() != WorldConfig().content_key()
    assert WorldConfig(seed=0).content_key() == WorldConfig().content_key()


def test_an_item_longer_than_the_context_is_refused(tmp_path) -> None:
    from forgetflow.scenarios.world.build import WorldBuildError

    tiny_context = WorldConfig(n_positions=16, background_train=2, background_eval=1)
    with pytest.raises(WorldBuildError, match="n_positions 16"):
        build_world(tiny_context, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-built left behind


def test_qa_items_train_in_each_wording_and_the_stand_in_retain_model_as_long(
    tmp_path, monkeypatch
) -> None:
    from collections import Counter

    from forgetflow.lm.tokens import encode
    from forgetflow.models.io import load_tokenizer
    from forgetflow.scenarios.world import build

    streams: list[Counter] = []  # per model trained: how often each text was trained on

    def record(model, sequences, batches, pad_id, lr, progress=None, desc="") -> int:
        streams.append(Counter(tuple(sequences[i]) for batch in batches for i in batch))
        return len(batches)

    monkeypatch.setattr(build, "train_on_schedule", record)
    config = WorldConfig(qa_wordings=3, retain_training="stand_ins", background_train=2,
                         background_eval=1)  # fmt: skip
    world = build.build_world(config, tmp_path)
    target, retain = streams
    assert world.manifest["train_steps"]["target"] == world.manifest["train_steps"]["retain"]
    tokenizer = load_tokenizer(world.model_dir)

    def seen(stream: Counter, text: str) -> int:
        return stream[tuple(encode(tokenizer, [text])[0] + [tokenizer.eos_token_id])]

    items = [i for i in world.table("items").to_pylist() if i["family"] == "qa"]
    for item in (i for i in items if i["repetitions"] > 0):
        wordings = [item["text"], *item["variants"]]
        assert len(wordings) == 3
        r = item["repetitions"]
        counts = [seen(target, w) for w in wordings]
        assert counts == [len(range(j, r, 3)) for j in range(3)], item["sample_id"]
        assert [seen(retain, w) for w in wordings] == (
            counts if item["split"] != "forget" else [0, 0, 0])  # fmt: skip
    assert sum(retain.values()) == sum(target.values())
