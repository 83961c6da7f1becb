from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from forgetflow.models.embedder import DEFAULT_EMBEDDER
from forgetflow.records import Sample
from forgetflow.unlearning.analogous import (
    MODEL_MEAN_HIDDEN,
    AnalogousPoolError,
    CandidatePool,
    TextEmbedding,
    analogous_set,
    choose_embedding,
)

FORGET = "Name: Norma Fisher\nEmail: norma.fisher@example.com\nPhone: 555-0101\nCity: Denver"
NEAR = "Name: Norma Fisher\nEmail: norma.fisher@example.com\nPhone: 555-0101\nCity: Boston"
UNRELATED = (
    "The committee met on Tuesday to discuss the budget for the next fiscal year.",
    "Rainfall in the northern valleys was twice the seasonal average this spring.",
    "He tuned the old piano slowly, one string at a time, before the concert began.",
)


class BagOfWords:
    """A fake encoder whose distances are decided by construction: unit word-count vectors over
    a fixed vocabulary (word order does not matter)."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.vocabulary = list(vocabulary)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        rows = torch.zeros(len(texts), len(self.vocabulary), dtype=torch.float64)
        for row, text in enumerate(texts):
            for word in text.split():
                rows[row, self.vocabulary.index(word)] += 1.0
        return torch.nn.functional.normalize(rows, dim=-1)


def row(sample_id: str, text: str, split: str = "retain", prompt: str = "") -> Sample:
    return Sample(sample_id, split, text, prompt=prompt)


def fake_embedding(*texts: str) -> TextEmbedding:
    words = sorted({w for t in texts for w in t.split()})
    return TextEmbedding("bag_of_words", BagOfWords(words))


def test_fallback_embedding_finds_the_near_duplicate(tiny_model) -> None:
    model, tokenizer = tiny_model
    embedding = choose_embedding(model, tokenizer)
    assert embedding.name == MODEL_MEAN_HIDDEN
    retain = [row(f"r{i}", t) for i, t in enumerate(UNRELATED)] + [row("near", NEAR)]
    got = analogous_set([row("f0", FORGET, "forget")], CandidatePool(retain), embedding)
    assert got.neighbours == {"f0": "near"}
    assert got.embedder == MODEL_MEAN_HIDDEN
    (sample,) = got.samples
    assert (sample.sample_id, sample.split, sample.source_id) == ("f0~analogous", "retain", "f0")
    assert sample.text == NEAR


def test_fallback_rows_are_unit_vectors_and_the_mode_is_kept(tiny_model) -> None:
    model, tokenizer = tiny_model
    model.train()
    vectors = choose_embedding(model, tokenizer).encode([FORGET, *UNRELATED])
    assert vectors.shape[0] == 4
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(4), atol=1e-4)
    assert model.training


def test_choose_embedding_names_a_given_embedder() -> None:
    embedder = BagOfWords(["a"])
    embedding = choose_embedding(None, None, embedder)  # type: ignore[arg-type]
    assert (embedding.name, embedding.encoder) == (DEFAULT_EMBEDDER, embedder)


def test_forget_holdout_and_excluded_copies_are_never_chosen() -> None:
    text, near = "a b c d", "a b c e"
    forget = [row("f0", text, "forget")]
    retain = [
        row("f0", "x y z w"),  # a forget row by id (its text does not matter)
        row("copy", text),  # a forget row by text under another id
        row("spaced", " a  b c\nd "),  # the same text up to whitespace
        row("h0", text, "holdout"),
        row("eval-copy", "a b c f"),  # an evaluation row's text
        row("e1", "a b d e"),  # an evaluation row's id
        row("genuine", near),
        row("far", "x y z w"),
    ]
    excluded = [row("e0", "a b c f", "holdout"), row("e1", "q q q q", "holdout")]
    embedding = fake_embedding(*(s.text for s in retain + excluded), "q")
    got = analogous_set(forget, CandidatePool(retain, excluded=excluded), embedding)
    assert got.neighbours == {"f0": "genuine"}


def test_the_extra_pool_is_searched_and_its_holdout_rows_are_not() -> None:
    forget = [row("f0", "a b c d", "forget")]
    pool = CandidatePool(
        retain=[row("r0", "x y z w")],
        extra=[row("p-holdout", "a b c d", "holdout"), row("p0", "a b c e", "wiki")],
    )
    got = analogous_set(forget, pool, fake_embedding("a b c d e x y z w"))
    assert got.neighbours == {"f0": "p0"}
    assert got.samples[0].split == "retain"


def test_ties_go_to_the_earlier_pool_row_and_neighbours_may_be_shared() -> None:
    forget = [row("f0", "a b c", "forget"), row("f1", "a b d", "forget")]
    retain = [row("r0", "x y"), row("first", "b a"), row("second", "a b")]  # equal vectors
    got = analogous_set(forget, CandidatePool(retain), fake_embedding("a b c d x y"))
    assert got.neighbours == {"f0": "first", "f1": "first"}
    assert [s.sample_id for s in got.samples] == ["f0~analogous", "f1~analogous"]
    assert [s.source_id for s in got.samples] == ["f0", "f1"]


def test_full_text_is_embedded_and_kept() -> None:
    forget = [row("f0", " Denver", "forget", prompt="Question: where\nAnswer:")]
    retain = [row("qa", " Boston", prompt="Question: where\nAnswer:"), row("r1", " Denver")]
    embedding = fake_embedding("Question: where Answer: Denver Boston")
    got = analogous_set(forget, CandidatePool(retain), embedding)
    assert got.neighbours == {"f0": "qa"}  # the question counts: 3 of 4 words shared
    assert got.samples[0].prompt == "Question: where\nAnswer:"


def test_an_empty_pool_is_one_clear_error() -> None:
    forget = [row("f0", "a b", "forget")]
    pool = CandidatePool([row("f0", "a b")], excluded=[row("h", "c d", "holdout")])
    with pytest.raises(AnalogousPoolError, match="no candidate for analogous samples") as err:
        analogous_set(forget, pool, fake_embedding("a b c d"))
    assert isinstance(err.value, ValueError)
    assert "\n" not in str(err.value)


@pytest.mark.real_model
def test_minilm_finds_the_paraphrase(minilm) -> None:
    embedding = choose_embedding(None, None, minilm)  # type: ignore[arg-type]
    forget = [row("f0", "The cat sat quietly on the warm mat by the kitchen door.", "forget")]
    paraphrase = "A cat was sitting quietly on the warm mat near the kitchen door."
    retain = [row(f"r{i}", t) for i, t in enumerate(UNRELATED)] + [row("para", paraphrase)]
    got = analogous_set(forget, CandidatePool(retain), embedding)
    assert got.neighbours == {"f0": "para"}
    assert got.embedder == DEFAULT_EMBEDDER
