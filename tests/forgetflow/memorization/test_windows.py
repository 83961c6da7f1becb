"""Long documents split once into `<id>#k` windows, each scored on the document's own ids after
the text before it."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.lm.prompts import qa_prompt
from forgetflow.lm.tokens import encode
from forgetflow.memorization.el import el_naive
from forgetflow.memorization.metrics import score_samples, window_tail
from forgetflow.memorization.windows import WindowingError, tokenize_samples, window_samples
from forgetflow.records import Sample


def holdout_texts(world) -> list[str]:
    return pq.read_table(world.splits["holdout"])["text"].to_pylist()[:4]


def long_document(world) -> Sample:
    return Sample("doc", "retain", "\n".join(holdout_texts(world)), 3)


def most_exposed_profile(world) -> Sample:
    rows = pq.read_table(world.splits["forget"]).to_pylist()
    row = max(rows, key=lambda r: r["repetitions"])
    return Sample(row["sample_id"], "forget", row["text"], row["repetitions"])


def test_long_documents_split_once_into_named_windows(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    doc = long_document(tiny_world)
    content = encode(tokenizer, [doc.text])[0][1:]
    assert len(content) > 300
    size = next(w for w in range(30, 60) if 0 < len(content) % w < 11)  # a short tail
    short = Sample("short", "retain", "Name: Ann")
    windows = window_samples([doc, short], tokenizer, window=size)
    names = [w.sample_id for w in windows]
    assert names == [f"doc#{k}" for k in range(len(content) // size)] + ["short"]
    assert windows[-1] == short and all(w.is_window for w in windows[:-1])
    assert "".join(w.text for w in windows[:-1]) == doc.text
    sizes = [len(encode(tokenizer, [w.text])[0]) - 1 for w in windows[:-1]]
    assert sizes[:-1] == [size] * (len(sizes) - 1) and size < sizes[-1] < size + 11  # tail joined
    assert windows[0].prompt == "" and windows[1].prompt == windows[0].text
    for k, window in enumerate(windows[2:-1], start=2):  # the text before it, cut to a window
        before = "".join(w.text for w in windows[:k])
        assert before.endswith(window.prompt) and 0 < len(window.prompt) < len(before)
    assert all(w.split == "retain" and w.repetitions == 3 and w.source_id == "doc"
               for w in windows[:-1])  # fmt: skip


@pytest.mark.parametrize("size", [17, 40, 61])
def test_windows_score_exactly_the_document_ids(tiny_world, tiny_model, size) -> None:
    model, tokenizer = tiny_model
    # an emoji takes 4 byte tokens on one character: a cut between them could not survive
    texts = [text.replace(" ", " \U0001f600 ", 3) for text in holdout_texts(tiny_world)]
    doc = Sample("doc", "retain", " \U0001f600\u00fc\n".join(texts), 3)
    windows = window_samples([doc], tokenizer, window=size)
    assert len(windows) > 4
    scored = [t for w in tokenize_samples(tokenizer, windows) for t in w.ids[w.start : w.end]]
    assert scored == encode(tokenizer, [doc.text])[0][1:]


def test_a_later_window_is_scored_after_the_text_before_it(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    profile = most_exposed_profile(tiny_world)
    first, later = window_samples([profile], tokenizer, window=40)  # its context: all of #0
    from_bos = Sample("from-bos", "forget", later.text)
    with_context, alone = score_samples(model, tokenizer, [later, from_bos], metrics=["loss"])
    assert with_context.values["loss"] < alone.values["loss"] / 4  # the record's name is known
    (item,) = tokenize_samples(tokenizer, [later])
    ids = encode(tokenizer, [profile.text])[0]
    assert list(item.ids) == ids and later.prompt == first.text  # all of the record before it
    labels = torch.tensor([ids])
    labels[0, : item.start] = -100
    with torch.no_grad():
        expected = model(input_ids=torch.tensor([ids]), labels=labels).loss.item()
    assert with_context.values["loss"] == pytest.approx(expected, rel=1e-5)


def test_a_document_the_model_holds_whole_is_scored_at_its_trained_positions(
    tiny_world, tiny_model
) -> None:
    """A model with room for the whole document scores its last, shorter window after all of the
    text before it: the ids and positions it was trained on (a context cut for a full-size window
    and tail would shift it to earlier positions, where a model with absolute positions does not
    recall it)."""
    _, tokenizer = tiny_model
    profile = most_exposed_profile(tiny_world)
    ids = encode(tokenizer, [profile.text])[0]
    size = len(ids) // 2 + 2  # two windows, the second shorter than a window and its tail
    first, later = window_samples([profile], tokenizer, size, min_tail=11, max_length=len(ids) + 1)
    assert later.prompt == first.text
    (item,) = tokenize_samples(tokenizer, [later])
    assert list(item.ids) == ids and item.start == len(encode(tokenizer, [first.text])[0])


def test_windows_are_scored_on_their_ids(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    windows = window_samples([long_document(tiny_world)], tokenizer, window=50)
    qa = [Sample("q", "forget", " Brightline", prompt=qa_prompt("Where does Ana Ruiz work?"))]
    scores = score_samples(model, tokenizer, [*windows, *qa], metrics=["loss"])
    assert [s.sample_id for s in scores] == [w.sample_id for w in windows] + ["q"]
    items = tokenize_samples(tokenizer, windows)
    for item, score in zip(items, scores, strict=False):
        ids = torch.tensor([item.ids])
        labels = ids.clone()
        labels[0, : item.start] = -100  # the context is not scored
        with torch.no_grad():
            expected = model(input_ids=ids, labels=labels).loss.item()
        assert score.values["loss"] == pytest.approx(expected, rel=1e-5)
    pretokenized = score_samples(model, tokenizer, items, metrics=["loss"])
    assert [s.values for s in pretokenized] == [s.values for s in scores[:-1]]


def test_el_n_of_a_window_runs_over_its_own_tokens(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    windows = window_samples([most_exposed_profile(tiny_world)], tokenizer, window=40)
    scores = score_samples(model, tokenizer, windows, metrics=["el_4"])
    for item, score in zip(tokenize_samples(tokenizer, windows), scores, strict=True):
        naive = el_naive(model, list(item.ids[: item.end]), 4, start=item.start)
        assert score.values["el_4"] == pytest.approx(naive, abs=1e-6)


def test_the_tail_rule_follows_the_largest_el_n(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    doc = long_document(tiny_world)
    content = len(encode(tokenizer, [doc.text])[0]) - 1
    size = next(w for w in range(30, 60) if 11 <= content % w < 30)
    assert window_tail(["ma"]) == 11 and window_tail(["ma", "el_29"]) == 30
    plain = window_samples([doc], tokenizer, size, window_tail(["ma"]))
    el = window_samples([doc], tokenizer, size, window_tail(["ma", "el_29"]))
    assert len(el) == len(plain) - 1  # a tail of 11..29 tokens stands alone for EL_10, not EL_29


def test_a_window_and_its_context_fit_the_model_positions(tiny_world, tiny_model) -> None:
    """The context shrinks so that context, window, tail and two special tokens fit a model's
    positions; a text that needs windows that cannot fit at all is one error naming the
    setting."""
    _, tokenizer = tiny_model
    doc = long_document(tiny_world)
    windows = window_samples([doc], tokenizer, window=40, min_tail=11, max_length=60)
    assert len(windows) > 4 and windows[2].prompt  # 60 - 40 - 11 - 2 = 7 tokens of context
    for window in tokenize_samples(tokenizer, windows):
        assert len(window.ids) <= 60
    assert "".join(w.text for w in windows) == doc.text
    with pytest.raises(WindowingError, match="'doc' needs windows.*scoring.window to at most 47"):
        window_samples([doc], tokenizer, window=50, min_tail=11, max_length=60)
    short = Sample("short", "retain", "Name: Ann")  # needs no window: nothing to fit
    assert window_samples([short], tokenizer, window=50, min_tail=11, max_length=60) == [short]
