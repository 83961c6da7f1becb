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
from forgetflow.utility.mcq import Choices, choice_pairs, mcq_correct
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


Pair = tuple[str, str]  # (context, continuation), teacher-forced


def pair_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    batch_size: int = 16,
) -> dict[Pair, tuple[float, int]]:
    """(summed log-prob, tokens) of each distinct pair, scored once, `batch_size` per pass."""
    distinct = list(dict.fromkeys(pairs))
    return dict(zip(distinct, pair_logprobs(model, tokenizer, distinct, batch_size), strict=True))


def normalized(scored: tuple[float, int]) -> float:
    """P(continuation | context)^(1/|continuation|) from its (summed log-prob, tokens)."""
    total, count = scored
    return math.exp(total / count)


def perturbed_sentences(item: QAItem) -> list[str]:
    """The perturbed answers as the truth ratio scores them: in the paraphrased answer's
    sentence where that sentence holds the answer, else as given."""
    sentence = item.paraphrased_answer
    if sentence and item.answer in sentence:
        return [sentence.replace(item.answer, wrong) for wrong in item.perturbed_answers]
    return list(item.perturbed_answers)


def ratio_pairs(item: QAItem) -> list[Pair]:
    """What the truth ratio scores: the paraphrased answer, then each perturbed sentence (none
    without perturbed answers)."""
    if not item.perturbed_answers:
        return []
    true = item.paraphrased_answer or item.answer
    return [(item.prompt, " " + s) for s in (true, *perturbed_sentences(item))]


def ratio_of(item: QAItem, scores: dict[Pair, tuple[float, int]]) -> float | None:
    """R of `item` from its pairs' scores (None without perturbed answers)."""
    pairs = ratio_pairs(item)
    if not pairs:
        return None
    true, *wrong = (normalized(scores[pair]) for pair in pairs)
    return sum(wrong) / len(wrong) / true if true > 0 else math.inf


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


def choices_of(item: QAItem) -> Choices:
    return Choices(item.prompt, item.choices, item.choices.index(item.answer))


def mcq_of(item: QAItem, scores: dict[Pair, tuple[float, int]]) -> bool | None:
    """Whether `item` is answered right by log-likelihood (None without choices)."""
    if not item.choices:
        return None
    asked = choices_of(item)
    logliks = [scores[pair][0] for pair in choice_pairs([asked])]
    return mcq_correct([logliks], [asked])[0]


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
    answers = [(i.prompt, " " + i.answer) for i in items]
    asked = [choices_of(i) for i in items if i.choices]
    pairs = answers + [p for i in items for p in ratio_pairs(i)] + choice_pairs(asked)
    scores = pair_scores(model, tokenizer, pairs, batch_size)  # each distinct pair once
    probabilities = [normalized(scores[pair]) for pair in answers]
    greedy = greedy_answers(backend, tokenizer, items)
    ratios = [ratio_of(item, scores) for item in items]
    mcq = [mcq_of(item, scores) for item in items]
    return [
        QAScore(item.item_id, prob, rouge_l_recall(item.answer, said),
                answer_given(item.answer, said).matched, said, ratio, right)
        for item, prob, said, ratio, right in zip(items, probabilities, greedy, ratios, mcq,
                                                  strict=True)
    ]  # fmt: skip
