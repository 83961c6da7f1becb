"""QA metrics against naive formulas on the tiny world's model."""

from __future__ import annotations

import re

import pytest
import torch

from forgetflow.data.answers import answer_given
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.prompts import qa_prompt
from forgetflow.utility.qa import (
    perturbed_sentences,
    rouge_l_recall,
    score_items,
)
from forgetflow.utility.sets import QAItem

ITEM = QAItem("i1", "Where was Megan Chang born?", "Travisfurt",
              "Megan Chang's birthplace is Travisfurt.", ("Allenfort", "Grantside"),
              ("Grantside", "Travisfurt", "Allenfort"))  # fmt: skip


@torch.no_grad()
def naive_probability(model, tokenizer, prompt: str, continuation: str) -> float:  # noqa: ANN001
    """exp(mean log p) of the continuation's tokens after the prompt, one full forward."""
    context = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    tail = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context + tail])
    logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    picked = [logprobs[len(context) - 1 + k, tok] for k, tok in enumerate(tail)]
    return float(torch.exp(torch.stack(picked).mean()))


def scored(model, tokenizer, items: list[QAItem]) -> list:  # noqa: ANN001
    return score_items(model, tokenizer, HFBackend(model, tokenizer), items)


def test_probability_is_the_answers_per_token_geometric_mean(tiny_model) -> None:
    model, tokenizer = tiny_model
    items = [QAItem("i1", ITEM.question, "Travisfurt"), QAItem("i2", "Who?", "Ana Ruiz of Lyon")]
    for item, found in zip(items, scored(model, tokenizer, items), strict=True):
        naive = naive_probability(model, tokenizer, qa_prompt(item.question), " " + item.answer)
        assert found.probability == pytest.approx(naive, rel=1e-4)


def test_perturbed_answers_are_rendered_in_the_paraphrased_answers_sentence() -> None:
    assert perturbed_sentences(ITEM) == ["Megan Chang's birthplace is Allenfort.",
                                         "Megan Chang's birthplace is Grantside."]  # fmt: skip
    bare = QAItem("i2", "Q?", "Lyon", "", ("Oslo",))
    assert perturbed_sentences(bare) == ["Oslo"]


def test_truth_ratio_is_the_mean_perturbed_probability_over_the_paraphrased_ones(
    tiny_model,
) -> None:
    model, tokenizer = tiny_model
    prompt = qa_prompt(ITEM.question)
    true = naive_probability(model, tokenizer, prompt, " " + ITEM.paraphrased_answer)
    wrong = [
        naive_probability(model, tokenizer, prompt, " " + s) for s in perturbed_sentences(ITEM)
    ]
    plain = QAItem("i3", ITEM.question, "Travisfurt", perturbed_answers=("Allenfort",))
    plain_r = naive_probability(model, tokenizer, prompt, " Allenfort") / naive_probability(
        model, tokenizer, prompt, " Travisfurt")  # fmt: skip
    got = [s.truth_ratio for s in scored(model, tokenizer, [ITEM, QAItem("i4", "Q?", "A"), plain])]
    assert got[0] == pytest.approx(sum(wrong) / len(wrong) / true, rel=1e-4)
    assert got[1] is None and got[2] == pytest.approx(plain_r, rel=1e-4)


def lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
            )
    return table[-1][-1]


@pytest.mark.parametrize(
    ("answer", "said"),
    [("Ray LLC", "Ray LLC"), ("Ray LLC", "He works at Ray, an LLC"), ("Ray LLC", "nowhere"),
     ("the state of Indiana", "Indiana is the state"), ("Travisfurt", "")],
)  # fmt: skip
def test_rouge_l_is_the_recall_of_the_longest_common_subsequence(answer: str, said: str) -> None:
    words = lambda text: re.findall(r"[a-z0-9]+", text.lower())  # noqa: E731
    expected = lcs(words(answer), words(said)) / len(words(answer))
    assert rouge_l_recall(answer, said) == pytest.approx(expected, abs=1e-12)


def test_every_item_is_scored_with_its_greedy_answer(tiny_model) -> None:
    model, tokenizer = tiny_model
    items = [ITEM, QAItem("i2", "Where does Megan Chang work?", "Ray LLC")]
    scores = scored(model, tokenizer, items)
    assert [s.item_id for s in scores] == ["i1", "i2"]
    for item, found in zip(items, scores, strict=True):
        assert found.answered == answer_given(item.answer, found.greedy).matched
        assert found.rouge_l == rouge_l_recall(item.answer, found.greedy)
        assert "\n" not in found.greedy
    assert scores[0].mcq_correct is not None and scores[1].mcq_correct is None
    assert scores[1].truth_ratio is None


def test_the_batch_size_changes_no_score(tiny_model) -> None:
    """One sequence per forward pass (no padding) and all together (padded) agree."""
    model, tokenizer = tiny_model
    plain = QAItem("i2", "Where does Megan Chang work?", "Ray LLC", choices=("Lee", "Ray LLC"))
    backend = HFBackend(model, tokenizer)
    alone, together = (
        score_items(model, tokenizer, backend, [ITEM, plain], size) for size in (1, 16)
    )
    for one, many in zip(alone, together, strict=True):
        assert one.probability == pytest.approx(many.probability, rel=1e-4)
        assert (one.greedy, one.mcq_correct) == (many.greedy, many.mcq_correct)
    assert alone[0].truth_ratio == pytest.approx(together[0].truth_ratio, rel=1e-4)
