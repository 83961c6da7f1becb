"""Perplexity of a split over its units."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from forgetflow.memorization.windows import window_samples
from forgetflow.records import Sample
from forgetflow.utility.perplexity import split_nll


def test_a_text_in_windows_counts_each_of_its_tokens_once(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    row = pq.read_table(tiny_world.splits["holdout"]).to_pylist()[0]
    doc = Sample(row["sample_id"], "holdout", row["text"])
    windows = window_samples([doc], tokenizer, window=40)
    assert len(windows) == 2  # the second window's context is all of the first
    total, count = split_nll(model, tokenizer, windows)
    whole, tokens = split_nll(model, tokenizer, [doc])
    assert count == tokens and total == pytest.approx(whole, rel=1e-5)
