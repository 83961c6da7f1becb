from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.lm import encode
from forgetflow.memorization.metrics import ScoringInputError, score_samples
from forgetflow.records import Sample


def world_samples(world, split: str, n: int) -> list[Sample]:
    rows = pq.read_table(world.splits[split]).to_pylist()[:n]
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows]


def generate_loop_ma(model, ids: list[int]) -> float:
    """Jang et al.'s reference: one greedy `generate` step per prefix length."""
    hits = 0
    for t in range(1, len(ids)):
        prefix = torch.tensor([ids[:t]])
        out = model.generate(prefix, attention_mask=torch.ones_like(prefix), max_new_tokens=1,
                             do_sample=False, pad_token_id=0)  # fmt: skip
        hits += int(out[0, -1]) == ids[t]
    return hits / (len(ids) - 1)


def test_teacher_forced_ma_equals_the_generate_loop(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = world_samples(tiny_world, "forget", 3) + world_samples(tiny_world, "holdout", 3)
    scores = score_samples(model, tokenizer, samples, batch_size=4)  # padding across lengths
    for sample, score in zip(samples, scores, strict=True):
        reference = generate_loop_ma(model, encode(tokenizer, [sample.text])[0])
        assert score.values["ma"] == reference
        assert score.sample_id == sample.sample_id and score.split == sample.split


def test_loss_is_the_mean_token_nll(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    sample = world_samples(tiny_world, "retain", 1)[0]
    ids = torch.tensor(encode(tokenizer, [sample.text]))
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss.item()
    got = score_samples(model, tokenizer, [sample])[0].values["loss"]
    assert got == pytest.approx(expected, rel=1e-5)


def test_batching_does_not_change_scores(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = world_samples(tiny_world, "holdout", 6)
    one = score_samples(model, tokenizer, samples, batch_size=1)
    many = score_samples(model, tokenizer, samples, batch_size=6)
    for a, b in zip(one, many, strict=True):
        assert a.values["ma"] == b.values["ma"]
        assert a.values["loss"] == pytest.approx(b.values["loss"], abs=1e-5)


def test_memorized_samples_score_above_holdout(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    rows = pq.read_table(tiny_world.splits["forget"]).to_pylist()
    top = [Sample(r["sample_id"], "forget", r["text"]) for r in rows if r["repetitions"] == 32]
    forget = score_samples(model, tokenizer, top)
    holdout = score_samples(model, tokenizer, world_samples(tiny_world, "holdout", 8))
    assert min(s.values["ma"] for s in forget) > max(s.values["ma"] for s in holdout)


def test_a_sample_too_short_to_score_is_named(tiny_model) -> None:
    model, tokenizer = tiny_model
    with pytest.raises(ScoringInputError, match="'tiny'"):
        score_samples(model, tokenizer, [Sample("tiny", "forget", "")])
