"""QA metrics of one model on one QA set (docs/metrics.md, "Utility"), per item:

- **probability** P(a|q)^(1/|a|): the answer's per-token geometric-mean probability after the
  question (QA template, " " + answer, teacher-forced);
- **ROUGE-L recall** of the greedy answer against the answer (rouge-score, no stemming), the
  greedy answer being one line of at most the answer's tokens + 16;
- **answered**: whether the greedy answer gives the answer (data/answers.py `answer_given`);
- **truth ratio** R = mean over perturbed answers p of P(p|q)^(1/|p|), divided by
  P(a~|q)^(1/|a~|), a~ the paraphrased answer (the answer itself when the item has none); a
  perturbed answer is rendered in a~'s sentence (a~ with the answer replaced by it) when a~
  holds the answer. No perturbed answers: no R;
- **mcq_correct**: for an item with `choices`, whether the highest-log-likelihood choice is the
  answer (utility/mcq.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rouge_score import rouge_scorer
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.data.answers import answer_given
from forgetflow.generation.base import GenerationBackend, SamplingParams, generate_each
from forgetflow.lm.logprobs import pair_logprobs
from forgetflow.lm.prompts import ANSWER_STOP, answer_budgets
from forgetflow.lm.tokens import encode
from forgetflow.utility.mcq import Choices, choice_logliks, mcq_correct
from forgetflow.utility.sets import QAItem


@dataclass(frozen=True)
class QAScore:
    item_id: str
    probability: float
    rouge_l: float
    answered: bool
    greedy: str
    truth_ratio: float | None = None
    mcq_correct: bool | None = None


def normalized_probabilities(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    batch_size: int = 16,
) -> list[float]:
    """P(continuation | context)^(1/|continuation|) of each (context, continuation) pair,
    `batch_size` pairs per forward pass."""
    scored = pair_logprobs(model, tokenizer, pairs, batch_size)
    return [math.exp(total / count) for total, count in scored]


def perturbed_sentences(item: QAItem) -> list[str]:
    """The perturbed answers as the truth ratio scores them: in the paraphrased answer's
    sentence where that sentence holds the answer, else as given."""
    sentence = item.paraphrased_answer
    if sentence and item.answer in sentence:
        return [sentence.replace(item.answer, wrong) for wrong in item.perturbed_answers]
    return list(item.perturbed_answers)


def truth_ratios(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[QAItem],
    batch_size: int = 16,
) -> list[float | None]:
    """R of each item (None without perturbed answers); one batched scoring pass."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        if item.perturbed_answers:
            prompt = item.prompt
            true = item.paraphrased_answer or item.answer
            pairs += [(prompt, " " + s) for s in (true, *perturbed_sentences(item))]
    probs = iter(normalized_probabilities(model, tokenizer, pairs, batch_size) if pairs else [])
    out: list[float | None] = []
    for item in items:
        if not item.perturbed_answers:
            out.append(None)
            continue
        true = next(probs)
        wrong = [next(probs) for _ in item.perturbed_answers]
        out.append(sum(wrong) / len(wrong) / true if true > 0 else math.inf)
    return out


def greedy_answers(
    backend: GenerationBackend, tokenizer: PreTrainedTokenizerBase, items: Sequence[QAItem]
) -> list[str]:
    """Each item's greedy answer, within the answer rule's budget (lm/prompts.py)."""
    prompts = encode(tokenizer, [i.prompt for i in items])
    lengths = answer_budgets(tokenizer, [i.answer for i in items])
    done = generate_each(backend, prompts, lengths, SamplingParams(stop=ANSWER_STOP))
    return [c.text.strip() for c in done]


def rouge_l_recall(answer: str, prediction: str) -> float:
    """ROUGE-L recall of `prediction` against `answer` (rouge-score's tokenizer, no stemming)."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return float(scorer.score(answer, prediction)["rougeL"].recall)


def mcq_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[QAItem],
    batch_size: int = 16,
) -> list[bool | None]:
    """Whether each item with choices is answered right by log-likelihood (None without)."""
    asked = [i for i in items if i.choices]
    choices = [Choices(i.prompt, i.choices, i.choices.index(i.answer)) for i in asked]
    logliks = choice_logliks(model, tokenizer, choices, batch_size) if asked else []
    correct = iter(mcq_correct(logliks, choices) if asked else [])
    return [next(correct) if i.choices else None for i in items]


def score_items(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    backend: GenerationBackend,
    items: Sequence[QAItem],
    batch_size: int = 16,
) -> list[QAScore]:
    """Every QA metric of every item (`backend` decodes `model`'s greedy answers; the
    teacher-forced passes take `batch_size` sequences at a time)."""
    if not items:
        return []
    pairs = [(i.prompt, " " + i.answer) for i in items]
    probabilities = normalized_probabilities(model, tokenizer, pairs, batch_size)
    greedy = greedy_answers(backend, tokenizer, items)
    ratios = truth_ratios(model, tokenizer, items, batch_size)
    mcq = mcq_scores(model, tokenizer, items, batch_size)
    return [
        QAScore(item.item_id, prob, rouge_l_recall(item.answer, said),
                answer_given(item.answer, said).matched, said, ratio, right)
        for item, prob, said, ratio, right in zip(items, probabilities, greedy, ratios, mcq,
                                                  strict=True)
    ]  # fmt: skip
