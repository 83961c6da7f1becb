"""The scoring stage opens a generation backend only for extraction metrics."""

from __future__ import annotations

import pytest

from forgetflow.generation.registry import BackendConfig
from forgetflow.memorization import score
from forgetflow.memorization.metrics import score_samples
from forgetflow.memorization.score import score_model
from forgetflow.models.io import load_model
from forgetflow.records import Sample


def profiles(world, split: str, n: int) -> list[Sample]:
    rows = [r for r in world.table("items").to_pylist() if r["split"] == split]
    return [Sample(r["sample_id"], split, r["text"]) for r in rows if r["family"] == "profile"][:n]


def test_no_backend_is_opened_without_extraction(tiny_world, tmp_path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a backend was opened for teacher-forced metrics")

    monkeypatch.setattr(score, "open_backend", refuse)
    ledger = score_model(tiny_world.model_dir, profiles(tiny_world, "forget", 3), ("ma", "loss"),
                         4, BackendConfig(name="vllm"), tmp_path)  # fmt: skip
    assert ledger.num_rows == 3 * 2
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["hf", "fake"])
def test_extraction_goes_through_the_configured_backend(tiny_world, tmp_path, name) -> None:
    samples = profiles(tiny_world, "forget", 4)
    ledger = score_model(tiny_world.model_dir, samples, ("ma", "extract_k4"), 4,
                         BackendConfig(name=name), tmp_path)  # fmt: skip
    rows = [r for r in ledger.to_pylist() if r["metric"] == "extract_k4"]
    assert len(rows) == len(samples)
    if name == "fake":  # the fake knows no record: nothing extracted
        assert {r["value"] for r in rows} == {0.0}
    else:  # the same as decoding with the model in memory
        model, tokenizer = load_model(tiny_world.model_dir)
        direct = score_samples(model, tokenizer, samples, 4, ("extract_k4",))
        assert [r["value"] for r in rows] == [s.values["extract_k4"] for s in direct]
