"""Tiny world acceptance: memorization spread by exposures, a retain model, determinism."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from forgetflow.audit.extraction import extraction_table
from forgetflow.data.facts import answer_matches
from forgetflow.data.world import WorldConfig, build_world
from forgetflow.generation.base import SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.memorization.metrics import score_samples
from forgetflow.models import load_model
from forgetflow.records import Sample


def profiles(world, splits: tuple[str, ...]) -> list[Sample]:
    rows = world.table("items").to_pylist()
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows
            if r["family"] == "profile" and r["split"] in splits]  # fmt: skip


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


@pytest.fixture(scope="module")
def bucket_ma(tiny_world) -> tuple[dict[int, float], float]:
    model, tokenizer = load_model(tiny_world.model_dir)
    samples = profiles(tiny_world, ("forget", "holdout"))
    scores = score_samples(model, tokenizer, samples)
    by_bucket: dict[int, list[float]] = defaultdict(list)
    for sample, score in zip(samples, scores, strict=True):
        by_bucket[sample.repetitions].append(score.values["ma"])
    means = {r: sum(v) / len(v) for r, v in by_bucket.items()}
    return {r: m for r, m in means.items() if r > 0}, means[0]


def test_memorization_rises_with_exposures(bucket_ma) -> None:
    buckets, holdout = bucket_ma
    ordered = [buckets[r] for r in sorted(buckets)]
    assert sorted(buckets) == [1, 2, 4, 8, 16, 32]
    assert all(b >= a - 0.02 for a, b in zip(ordered, ordered[1:], strict=False))
    assert abs(buckets[1] - holdout) <= 0.15
    assert buckets[32] >= holdout + 0.4
    assert all(buckets[r] >= holdout + 0.2 for r in (8, 16, 32))


def test_the_most_exposed_profiles_are_extractable(tiny_world) -> None:
    model, tokenizer = load_model(tiny_world.model_dir)
    top = [s for s in profiles(tiny_world, ("forget",)) if s.repetitions == 32]
    table = extraction_table(HFBackend(model, tokenizer), tokenizer, top, "target")
    assert sum(table["exact"].to_pylist()) / len(top) >= 0.9
    retain_model, _ = load_model(tiny_world.retain_model_dir)
    table = extraction_table(HFBackend(retain_model, tokenizer), tokenizer, top, "retain")
    assert sum(table["exact"].to_pylist()) == 0  # the retain model never saw them


def qa_accuracy(model_dir, rows: list[dict]) -> float:
    """Share of QA rows whose answer starts the greedy continuation of "Question: ...\nAnswer:"."""
    model, tokenizer = load_model(model_dir)
    prompts = [f"Question: {q['question']}\nAnswer:" for q in rows]
    outs = HFBackend(model, tokenizer).generate(prompts, SamplingParams(max_tokens=16))
    hits = [answer_matches(q["answer"], o.text) for q, o in zip(rows, outs, strict=True)]
    return sum(hits) / len(rows)


def test_the_target_model_answers_well_exposed_questions(tiny_world) -> None:
    qa = tiny_world.table("qa").to_pylist()
    exposed = [q for q in qa if q["repetitions"] >= 8]
    assert {q["split"] for q in exposed} == {"forget", "retain"}
    assert qa_accuracy(tiny_world.model_dir, exposed) >= 0.9


def test_the_retain_model_knows_forget_people_no_better_than_strangers(tiny_world) -> None:
    qa = tiny_world.table("qa").to_pylist()
    forget = qa_accuracy(tiny_world.retain_model_dir, [q for q in qa if q["split"] == "forget"])
    holdout = qa_accuracy(tiny_world.retain_model_dir, [q for q in qa if q["split"] == "holdout"])
    assert forget <= holdout + 0.05


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
    from forgetflow.data.world import WorldBuildError

    tiny_context = WorldConfig(n_positions=16, background_train=2, background_eval=1)
    with pytest.raises(WorldBuildError, match="n_positions 16"):
        build_world(tiny_context, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-built left behind
