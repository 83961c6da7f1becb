"""Multiple-choice accuracy by log-likelihood: each option is scored as the summed log-prob of its
tokens (" " + option, without special tokens) after the prompt (with special tokens); the
option with the highest score is the answer (the first on ties)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend
from forgetflow.lm.logprobs import pair_logprobs


class MCQInputError(ValueError):
    """A multiple-choice item cannot be scored as given (too few options, a bad answer index, an
    empty option)."""


@dataclass(frozen=True)
class Choices:
    """One multiple-choice item: the context (e.g. "Question: In which state is X?\\nAnswer:"),
    the options (each scored as " " + option after it) and the index of the correct one."""

    prompt: str
    options: tuple[str, ...]
    correct: int


def check_items(items: Sequence[Choices]) -> None:
    """Raise MCQInputError naming the first item that cannot be scored and what to fix."""
    for index, item in enumerate(items):
        where = f"multiple-choice item {index} ({item.prompt[:40]!r})"
        if len(item.options) < 2:
            raise MCQInputError(f"{where} has {len(item.options)} option(s): give at least 2")
        if not 0 <= item.correct < len(item.options):
            raise MCQInputError(
                f"{where}: correct={item.correct} is not an option's index; "
                f"give 0..{len(item.options) - 1}"
            )
        blank = [k for k, option in enumerate(item.options) if not option.strip()]
        if blank:
            raise MCQInputError(f"{where}: option {blank[0]} is empty; give it text or drop it")


def choice_pairs(items: Sequence[Choices]) -> list[tuple[str, str]]:
    """(prompt, " " + option) for every option of every item, item-major."""
    check_items(items)
    return [(item.prompt, " " + option) for item in items for option in item.options]


def regroup(scores: Sequence[float], items: Sequence[Choices]) -> list[list[float]]:
    """Item-major flat scores split back into one list per item."""
    out: list[list[float]] = []
    start = 0
    for item in items:
        out.append([float(s) for s in scores[start : start + len(item.options)]])
        start += len(item.options)
    return out


def choice_logliks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[Choices],
    batch_size: int = 16,
) -> list[list[float]]:
    """Summed log p(" " + option | prompt) of each option of each item, teacher-forced
    in-process, `batch_size` (prompt, option) sequences at a time."""
    scored = pair_logprobs(model, tokenizer, choice_pairs(items), batch_size)
    return regroup([total for total, _ in scored], items)


def backend_logliks(backend: GenerationBackend, items: Sequence[Choices]) -> list[list[float]]:
    """The same scores through `backend.loglikelihood`: for a model that cannot be loaded
    in-process."""
    return regroup(backend.loglikelihood(choice_pairs(items)), items)


def mcq_correct(logliks: Sequence[Sequence[float]], items: Sequence[Choices]) -> list[bool]:
    """Whether each item's highest-scored option (the first on ties) is its correct one."""
    check_items(items)
    if len(logliks) != len(items):
        raise MCQInputError(f"{len(logliks)} score rows for {len(items)} items: give one per item")
    out: list[bool] = []
    for index, (scores, item) in enumerate(zip(logliks, items, strict=True)):
        if len(scores) != len(item.options):
            raise MCQInputError(
                f"multiple-choice item {index} has {len(item.options)} options but "
                f"{len(scores)} scores: give one score per option"
            )
        out.append(list(scores).index(max(scores)) == item.correct)  # first index on ties
    return out
