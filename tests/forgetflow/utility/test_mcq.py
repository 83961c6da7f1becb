"""Multiple-choice log-likelihoods: the HF backend's scores, a naive forward, the argmax rule."""

from __future__ import annotations

import pytest
import torch

from forgetflow.generation.hf import HFBackend
from forgetflow.lm.tokens import encode
from forgetflow.utility.mcq import (
    Choices,
    MCQInputError,
    backend_logliks,
    choice_logliks,
    mcq_correct,
)

ITEMS = [
    Choices("Question: In which state does Ana Ruiz live?\nAnswer:", ("Ohio", "New Mexico"), 0),
    Choices("Question: Where does Bo Lin work?\nAnswer:", ("Brightline", "Acme", "Zenith Co"), 2),
    Choices("The capital of France is", ("Paris", "a small town by the sea", "Rome"), 0),
]


@torch.no_grad()
def naive_logliks(model, tokenizer, items: list[Choices]) -> list[list[float]]:
    """One full forward per (prompt, option), summing log_softmax over the option's tokens."""
    out = []
    for item in items:
        context = encode(tokenizer, [item.prompt])[0]
        row = []
        for option in item.options:
            tail = tokenizer(" " + option, add_special_tokens=False)["input_ids"]
            logits = model(input_ids=torch.tensor([context + tail])).logits[0].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            row.append(sum(float(logprobs[len(context) - 1 + k, t]) for k, t in enumerate(tail)))
        out.append(row)
    return out


def test_choice_logliks_equal_the_backend_and_a_naive_forward(tiny_model) -> None:
    model, tokenizer = tiny_model
    scores = choice_logliks(model, tokenizer, ITEMS, batch_size=2)  # padded, across items
    assert [len(row) for row in scores] == [2, 3, 3]
    pairs = [(item.prompt, " " + option) for item in ITEMS for option in item.options]
    flat = HFBackend(model, tokenizer).loglikelihood(pairs)
    assert [s for row in scores for s in row] == pytest.approx(flat, abs=1e-4)
    naive = naive_logliks(model, tokenizer, ITEMS)
    for row, expected in zip(scores, naive, strict=True):
        assert row == pytest.approx(expected, abs=1e-4)
    through = backend_logliks(HFBackend(model, tokenizer), ITEMS)
    for row, expected in zip(through, scores, strict=True):
        assert row == pytest.approx(expected, abs=1e-4)


def test_mcq_correct_takes_the_first_best_option() -> None:
    items = [Choices("q", ("a", "b"), 0), Choices("q", ("a", "b"), 0),
             Choices("q", ("a", "b", "c"), 1), Choices("q", ("a", "b", "c"), 0)]  # fmt: skip
    logliks = [[-1.0, -2.0], [-3.0, -1.0], [-2.0, -2.0, -5.0], [-2.0, -2.0, -5.0]]
    assert mcq_correct(logliks, items) == [True, False, False, True]  # ties go to index 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Choices("q", ("only",), 0), "item 1 .* 1 option"),
        (Choices("q", ("a", "b"), 2), "item 1 .* correct=2"),
        (Choices("q", ("a", "b"), -1), "item 1 .* correct=-1"),
        (Choices("q", ("a", ""), 0), "item 1 .* option 1 is empty"),
        (Choices("q", ("  ", "b"), 0), "item 1 .* option 0 is empty"),
    ],
)
def test_bad_items_are_named(tiny_model, bad: Choices, message: str) -> None:
    model, tokenizer = tiny_model
    items = [Choices("q", ("a", "b"), 0), bad]
    with pytest.raises(MCQInputError, match=message):
        choice_logliks(model, tokenizer, items)
    with pytest.raises(MCQInputError, match=message):
        mcq_correct([[0.0, 0.0], [0.0] * len(bad.options)], items)


def test_score_rows_must_match_the_items() -> None:
    items = [Choices("q", ("a", "b"), 0)]
    with pytest.raises(MCQInputError, match="2 score rows for 1 items"):
        mcq_correct([[0.0, 1.0], [0.0, 1.0]], items)
    with pytest.raises(MCQInputError, match="item 0 has 2 options but 3 scores"):
        mcq_correct([[0.0, 1.0, 2.0]], items)
