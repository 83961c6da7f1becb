from __future__ import annotations

import json

import pyarrow.parquet as pq

from forgetflow.audit.extraction import extraction_summary, extraction_table
from forgetflow.data.world import WorldConfig, build_world
from forgetflow.generation.hf import HFBackend
from forgetflow.records import Sample


def test_world_layout_and_manifest(tiny_world) -> None:
    manifest = json.loads((tiny_world.root / "world.json").read_text())
    assert manifest["content_key"] == WorldConfig().content_key()
    assert manifest["parameters"] < 1_000_000
    sizes = {split: pq.read_table(path).num_rows for split, path in tiny_world.splits.items()}
    assert sizes == {"forget": 16, "retain": 48, "holdout": 32}
    assert (tiny_world.model_dir / "model.safetensors").is_file()
    ids = [r for p in tiny_world.splits.values() for r in pq.read_table(p)["sample_id"].to_pylist()]
    assert len(ids) == len(set(ids))


def test_the_tiny_world_really_memorizes(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = [
        Sample(**row)
        for split in ("forget", "retain", "holdout")
        for row in pq.read_table(tiny_world.splits[split]).to_pylist()
    ]
    summary = extraction_summary(extraction_table(HFBackend(model, tokenizer), tokenizer,
                                                  samples, "target"))  # fmt: skip
    assert summary["target_forget_extraction"] >= 0.95
    assert summary["target_retain_extraction"] >= 0.95
    assert summary["target_holdout_extraction"] == 0.0  # never trained on


def test_a_built_world_is_reused_not_rebuilt(tiny_world) -> None:
    stamp = (tiny_world.model_dir / "model.safetensors").stat().st_mtime_ns
    again = build_world(WorldConfig(), tiny_world.root.parent)
    assert again.root == tiny_world.root
    assert (again.model_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_the_content_key_follows_the_settings() -> None:
    assert WorldConfig(seed=1).content_key() != WorldConfig().content_key()
    assert WorldConfig(seed=0).content_key() == WorldConfig().content_key()
