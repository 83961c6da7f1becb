"""The fine-tuned records scenario, on the tiny world's model as its base (SmolLM2 in real runs)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch
from pydantic import ValidationError

from flows.cli import app
from forgetflow.models.io import load_model
from forgetflow.models.names import resolve_model
from forgetflow.scenarios.records import finetune
from forgetflow.scenarios.records.finetune import RecordsConfig, build_records, record_items


def small_config(tiny_world, **changes) -> RecordsConfig:
    settings = {"name": "tiny-records", "base": str(tiny_world.model_dir), "buckets": [1, 4],
                "forget_per_bucket": 2, "retain_per_bucket": 2, "holdout": 3, "lr": 1e-3,
                "batch_size": 4}  # fmt: skip
    return RecordsConfig(**settings | changes)


def test_records_cycle_through_the_buckets_and_holdout_is_never_seen(tiny_world) -> None:
    items = record_items(small_config(tiny_world))
    by_split = {s: [i for i in items if i.split == s] for s in ("forget", "retain", "holdout")}
    assert [i.repetitions for i in by_split["forget"]] == [1, 4, 1, 4]
    assert [i.repetitions for i in by_split["retain"]] == [1, 4, 1, 4]
    assert [i.repetitions for i in by_split["holdout"]] == [0, 0, 0]
    lines = [i.text.split("\n") for i in items]
    assert all([line.split(":")[0] for line in text] == ["Name", "Email", "Phone", "SSN"]
               for text in lines)  # fmt: skip
    assert len({text[0] for text in lines}) == len(items)  # distinct people


def test_build_trains_both_models_names_them_and_reuses_them(tiny_world, tmp_path, monkeypatch):
    config = small_config(tiny_world)
    built = build_records(config, tmp_path)
    manifest = built.manifest
    assert manifest["train_steps"] == {"target": 5, "retain": 3}  # 20 and 10 exposures of 4
    assert set(manifest["train_seconds"]) == {"target", "retain"}
    assert 0.0 <= manifest["extraction"]["target_forget_r4_extraction"] <= 1.0
    assert resolve_model("tiny-records", tmp_path) == built.model_dir
    assert resolve_model("tiny-records-retain", tmp_path) == built.retain_model_dir
    forget = pq.read_table(built.splits["forget"]).to_pylist()
    assert [r["repetitions"] for r in forget] == [1, 4, 1, 4]
    base, _ = load_model(tiny_world.model_dir)
    target, _ = load_model(built.model_dir)
    retain, _ = load_model(built.retain_model_dir)
    weight = "transformer.h.0.attn.c_attn.weight"
    tensors = [m.state_dict()[weight] for m in (base, target, retain)]
    assert not torch.equal(tensors[0], tensors[1]) and not torch.equal(tensors[1], tensors[2])

    def no_training(*args, **kwargs):
        raise AssertionError("a built scenario is reused, not fine-tuned again")

    monkeypatch.setattr(finetune, "fine_tune", no_training)
    assert build_records(config, tmp_path).root == built.root
    with pytest.raises(AssertionError, match="reused"):  # other settings: another content key
        build_records(small_config(tiny_world, lr=2e-3), tmp_path)


def test_bad_settings_are_refused(tiny_world) -> None:
    with pytest.raises(ValidationError, match="exposures"):
        small_config(tiny_world, buckets=[0, 4])
    with pytest.raises(ValidationError, match="pattern"):
        small_config(tiny_world, name="Bad Name")
    with pytest.raises(ValueError, match="Name line"):
        record_items(small_config(tiny_world, fields=["Email", "Name"]))


def test_the_cli_fine_tunes_and_prints_names_and_figures(tiny_world, tmp_path, capsys) -> None:
    app(["models", "finetune", "--home", str(tmp_path), "--base", str(tiny_world.model_dir),
         "--name", "cli-records", "--lr", "0.001"], standalone_mode=False)  # fmt: skip
    out = capsys.readouterr().out
    assert f"cli-records -> {resolve_model('cli-records', tmp_path)}" in out
    assert "cli-records-retain -> " in out and "fine-tuning: target" in out
    assert "target_forget_r16_extraction" in out
