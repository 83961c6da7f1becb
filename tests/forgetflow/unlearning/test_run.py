"""The unlearning stage's entry (run.py): every anti-sample of the anti-sample table trains."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch

from forgetflow.lm.logprobs import sequence_nll
from forgetflow.lm.tokens import encode, pad_right
from forgetflow.memorization.score import score_to_ledger
from forgetflow.models.io import load_model
from forgetflow.records import Sample
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.run import unlearn_model

FORGET = [Sample("f0", "forget", "Name: Ann Lee\nCity: Lyon"),
          Sample("f1", "forget", "Name: Bo Chan\nCity: Oslo")]  # fmt: skip


def twins_of(world) -> pa.Table:
    """f0 has two anti-samples, a text the model memorized (low NLL) and one it never saw."""
    memorized = next(r["text"] for r in world.table("items").to_pylist()
                     if r["split"] == "retain" and r["repetitions"] >= 16)  # fmt: skip
    return pa.table({
        "sample_id": ["f0~twin", "f0~twin2", "f1~twin"], "source_id": ["f0", "f0", "f1"],
        "text": [memorized, "Name: Ann Lee\nCity: Paris", "Name: Bo Chan\nCity: Rome"],
        "backend": ["template"] * 3,
    })  # fmt: skip


def test_a_forget_sample_with_two_anti_samples_trains_on_both(tiny_world, tmp_path) -> None:
    """It trained on the last one only (`dict(zip(source_id, text))`): the logged anti-sample
    NLL of step 1 (before its update) is the mean over all three anti-sample rows."""
    model, tokenizer = load_model(tiny_world.model_dir)
    twins = twins_of(tiny_world)
    texts = twins["text"].to_pylist()
    with torch.no_grad():
        each = [float(sequence_nll(model, pad_right([ids], tokenizer.pad_token_id)))
                for ids in encode(tokenizer, texts)]  # fmt: skip
    every, last_only = sum(each) / 3, (each[1] + each[2]) / 2
    assert abs(every - last_only) > 0.5  # the two answers are far apart by construction
    ledger = score_to_ledger(model, tokenizer, FORGET, step=0, metrics=("loss",))
    out = unlearn_model(
        tiny_world.model_dir, tmp_path / "out", GradAscentConfig(antisample_weight=1.0),
        TrainingConfig(steps=1, batch_size=2), 0, {"forget": FORGET}, twins, ledger,
    )  # fmt: skip
    logged = {(r["step"], r["name"]): r["value"] for r in out.log.to_pylist()}
    assert logged[(1, "antisample_nll")] == pytest.approx(every, rel=1e-4)
