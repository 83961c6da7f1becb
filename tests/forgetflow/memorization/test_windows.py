"""Long documents split once into `<id>#k` windows, each scored on its own ids."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.lm.prompts import qa_prompt
from forgetflow.lm.tokens import encode
from forgetflow.memorization.metrics import el as el_metric
from forgetflow.memorization.metrics import score_samples
from forgetflow.memorization.windows import split_windows
from forgetflow.records import Sample


def long_document(world) -> Sample:
    texts = pq.read_table(world.splits["holdout"])["text"].to_pylist()[:4]
    return Sample("doc", "retain", "\n".join(texts), 3)


def test_long_documents_split_into_named_windows_of_their_ids(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    doc = long_document(tiny_world)
    ids = encode(tokenizer, [doc.text])[0]
    bos, content = ids[:1], ids[1:]
    assert bos == [tokenizer.bos_token_id] and len(ids) > 300
    size = next(w for w in range(60, 120) if 0 < len(content) % (w - 1) < 11)  # a short tail
    windows = split_windows([doc, Sample("short", "retain", "Name: Ann")], tokenizer, window=size)
    names = [w.sample.sample_id for w in windows]
    assert names == [f"doc#{k}" for k in range(len(content) // (size - 1))] + ["short"]
    assert all(w.ids[:1] == tuple(bos) and w.start == 1 and w.end == len(w.ids) for w in windows)
    assert [len(w.ids) for w in windows[:-2]] == [size] * (len(windows) - 2)
    assert size < len(windows[-2].ids) < size + 11  # the tail joined the last window
    assert sum((list(w.ids[1:]) for w in windows[:-1]), []) == content
    assert all(w.sample.split == "retain" and w.sample.repetitions == 3 for w in windows[:-1])
    assert [w.sample.source_id for w in windows] == ["doc"] * (len(windows) - 1) + [""]


def test_windows_are_scored_on_their_ids(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    doc = long_document(tiny_world)
    qa = [Sample("q", "forget", " Brightline", prompt=qa_prompt("Where does Ana Ruiz work?"))]
    scores = score_samples(model, tokenizer, [doc, *qa], metrics=["loss"], window=100)
    windows = split_windows([doc], tokenizer, window=100)
    assert [s.sample_id for s in scores] == [w.sample.sample_id for w in windows] + [
        qa[0].sample_id
    ]
    for window, score in zip(windows, scores, strict=False):
        ids = torch.tensor([window.ids])
        with torch.no_grad():
            expected = model(input_ids=ids, labels=ids).loss.item()
        assert score.values["loss"] == pytest.approx(expected, rel=1e-5)
    pretokenized = score_samples(model, tokenizer, windows, metrics=["loss"])
    assert [s.values for s in pretokenized] == [s.values for s in scores[:-1]]


def test_the_tail_rule_follows_the_largest_el_n(tiny_world, tiny_model, monkeypatch) -> None:
    model, tokenizer = tiny_model
    monkeypatch.setattr(el_metric, "el_scores",
                        lambda m, seqs, n, start, batch_size: [0.0] * len(seqs))  # fmt: skip
    doc = long_document(tiny_world)
    content = len(encode(tokenizer, [doc.text])[0]) - 1
    size = next(w for w in range(60, 120) if 11 <= content % (w - 1) < 30)
    plain = score_samples(model, tokenizer, [doc], metrics=["ma"], window=size)
    el = score_samples(model, tokenizer, [doc], metrics=["ma", "el_29"], window=size)
    assert len(el) == len(plain) - 1  # a tail of 11..29 tokens stands alone for EL_10, not EL_29
