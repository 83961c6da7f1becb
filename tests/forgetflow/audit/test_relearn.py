"""The relearning stresses relearn_10 and relearn_50 (audit/stresses/relearn.py): the seeded
split of the forget set, the variant directory with its relearn.json, the reuse of an identical
one, the comes-back figure, and the constructed case: a record placed in both halves, never seen
by the model, comes out of its half-B copy after relearning on its half-A copy."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from forgetflow.audit.extraction import extraction_table
from forgetflow.audit.stresses import STRESSES, StressContext, apply_stress
from forgetflow.audit.stresses.relearn import (
    RelearnError,
    comes_back,
    relearned,
    split_halves,
    split_samples,
)
from forgetflow.generation.hf import HFBackend
from forgetflow.hashing import dir_sha256
from forgetflow.models.io import load_model
from forgetflow.records import Figure, ModelVariant, Sample
from forgetflow.unlearning.config import TrainingConfig

IDS = [f"profile-{k}" for k in range(41)]


def world_samples(world, split: str) -> list[Sample]:
    rows = pq.read_table(world.splits[split]).to_pylist()
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows]


def test_the_split_covers_every_id_once_in_any_order() -> None:
    half_a, half_b = split_halves(IDS, seed=7)
    assert sorted(half_a + half_b) == sorted(IDS) and not set(half_a) & set(half_b)
    assert (len(half_a), len(half_b)) == (21, 20)
    assert split_halves(list(reversed(IDS)), seed=7) == (half_a, half_b)
    assert split_halves(IDS, seed=7) == (half_a, half_b)
    assert split_halves(IDS, seed=8) != (half_a, half_b)
    assert split_halves(["only"], seed=0) == (["only"], [])


def test_a_repeated_id_is_one_line() -> None:
    with pytest.raises(RelearnError) as caught:
        split_halves(["a", "b", "a"], seed=0)
    assert "\n" not in str(caught.value) and "['a']" in str(caught.value)


def test_the_stresses_are_registered_and_need_their_context(tiny_world, tmp_path) -> None:
    assert STRESSES.meta("relearn_10")["steps"] == 10 and STRESSES.meta("relearn_50")["steps"] == 50
    assert STRESSES.meta("relearn_50")["kind"] == "relearn"
    after = ModelVariant("after", tiny_world.model_dir)
    with pytest.raises(RelearnError) as caught:
        apply_stress("relearn_10", after, tmp_path)
    assert "\n" not in str(caught.value) and "StressContext(" in str(caught.value)


def test_relearn_writes_a_loadable_variant_with_its_record(tiny_world, tmp_path) -> None:
    forget = world_samples(tiny_world, "forget")[:6]
    training = TrainingConfig(lr=1e-4, batch_size=2, optimizer="adam", steps=99)
    context = StressContext(forget, training, seed=3)
    after = ModelVariant("after", tiny_world.model_dir)
    variant = apply_stress("relearn_10", after, tmp_path, context)
    assert variant == ModelVariant("after.relearn_10", tmp_path / "after.relearn_10", "after")
    record = json.loads((variant.model_dir / "relearn.json").read_text())
    half_a, half_b = split_halves([s.sample_id for s in forget], 3)
    assert (record["half_a"], record["half_b"]) == (half_a, half_b)
    assert (record["steps"], record["lr"], record["optimizer"], record["batch_size"]) == (
        10, 1e-4, "adam", 2,
    )  # fmt: skip
    assert record["seed"] == 3 and record["source_sha256"] == dir_sha256(tiny_world.model_dir)
    assert record["source"]["label"] == "after" and "stable_seed" in record["split_rule"]
    model, _ = load_model(variant.model_dir)
    source, _ = load_model(tiny_world.model_dir)
    pairs = zip(model.parameters(), source.parameters(), strict=True)
    assert max(float((p - q).detach().abs().max()) for p, q in pairs) > 0  # the weights changed
    written = (variant.model_dir / "relearn.json").stat().st_mtime_ns
    assert apply_stress("relearn_10", after, tmp_path, context) == variant
    assert (variant.model_dir / "relearn.json").stat().st_mtime_ns == written  # reused
    again = apply_stress("relearn_10", after, tmp_path, StressContext(forget, training, seed=4))
    assert (again.model_dir / "relearn.json").stat().st_mtime_ns != written  # another split


def extracted(model_dir, samples: list[Sample], label: str) -> list[dict]:
    model, tokenizer = load_model(model_dir)
    return extraction_table(HFBackend(model, tokenizer), tokenizer, samples, label).to_pylist()


def test_relearning_half_a_brings_back_the_record_in_half_b(tiny_world, tmp_path) -> None:
    """A holdout profile (never trained on) under two ids: the split puts one in each half.
    Before relearning its half-B copy is not extracted; 20 descent steps at lr 3e-3 on the
    half-A copy (5 already suffice here) make the model emit it exactly."""
    text = world_samples(tiny_world, "holdout")[0].text
    twins = [Sample(f"twin-{k}", "forget", text) for k in "ab"]
    context = StressContext(twins, TrainingConfig(lr=1e-5), seed=0, relearn_lr=3e-3)
    half_a, half_b = split_samples(twins, context.seed)
    assert len(half_a) == len(half_b) == 1 and half_a[0].text == half_b[0].text
    (before,) = extracted(tiny_world.model_dir, half_b, "after")
    assert not before["exact"] and before["token_match"] < 0.5
    variant = relearned(ModelVariant("after", tiny_world.model_dir), tmp_path, context, 20)
    assert json.loads((variant.model_dir / "relearn.json").read_text())["lr"] == 3e-3
    (after,) = extracted(variant.model_dir, half_b, variant.label)
    assert after["exact"] and after["token_match"] == 1.0


def test_comes_back_is_after_relearn_minus_retain_relearn_per_metric_and_group() -> None:
    after = [
        Figure("audit", "extraction", "after.relearn_10", "forget_half_b", 0.5, False, 20),
        Figure("audit", "extraction", "after.relearn_10", "forget_r32_half_b", 0.75, False, 4),
        Figure("audit", "token_match", "after.relearn_10", "forget_half_b", 0.9, False, 20),
    ]
    control = "retain_model.relearn_10"
    retain = [
        Figure("audit", "extraction", control, "forget_half_b", 0.125, False, 20),
        Figure("audit", "extraction", control, "forget_r32_half_b", 0.25, False, 4),
    ]
    back = comes_back(after, retain)
    assert back == [
        Figure("audit", "extraction_comes_back", "after.relearn_10", "forget_half_b", 0.375,
               False, 20),
        Figure("audit", "extraction_comes_back", "after.relearn_10", "forget_r32_half_b", 0.5,
               False, 4),
    ]  # fmt: skip
    assert comes_back(after, []) == []
