"""THE prompt rule: which leading part of a sample a model is asked to continue.

- A sample with a `prompt` (a QA row: the question template filled with its question) is asked
  its prompt, and its `text` (the answer) is the continuation.
- A text sample's prompt is its first line, newline included (e.g. "Name: ...\\n").
- The one fallback, for a one-line text: its first `fallback_tokens` tokens.
- A window of a long text (records.Sample.is_window) is a text whose `prompt` is the document's
  text just before it: unscored context, not a question. It is asked that context and, by the
  text rule, its own first line (or its first `fallback_tokens` tokens).

`full_text` joins a prompt to its text with nothing between them: a QA template ends where its
answer's leading space begins, and a window's context and text are the document's text as is.

Special tokens (BOS) belong to the prompt, and at least one token is always left to continue.
Every stage that asks a model (the extraction audit, anti-samples, IdkDPO's preferred answers,
QA scoring) goes through these functions; a question's answer is one line of at most its
reference answer's tokens plus ANSWER_MARGIN (`answer_budgets`: the fact audit, utility's QA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from transformers.tokenization_utils_base import PreTrainedTokenizerBase


class Sample(Protocol):
    """What the rule reads of a sample (records.Sample; lm sits beside records, not above)."""

    @property
    def prompt(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def is_window(self) -> bool: ...


QA_TEMPLATE = "Question: {question}\nAnswer:"  # the answer follows after one space
FALLBACK_TOKENS = 32  # the prompt of a one-line text without a prompt


def qa_prompt(question: str) -> str:
    """The prompt a QA sample is asked: the template filled with its question."""
    return QA_TEMPLATE.format(question=question)


class ChatTokenizer(Protocol):
    """What a chat-templated question needs of a Hugging Face tokenizer."""

    chat_template: str | None

    def apply_chat_template(self, conversation: list[dict[str, str]], **options: bool) -> str: ...


@dataclass(frozen=True)
class QuestionStyle:
    """How a model is asked a question and where its answer starts: the QA template, the answer
    after one space; or, for a tokenizer with a chat template (an instruct model, which under
    the QA template answers with a blank line), the question as the user's turn and the answer
    as the assistant's, with no space before it."""

    tokenizer: ChatTokenizer | None = None  # None: the QA template

    def prompt(self, question: str) -> str:
        if self.tokenizer is None:
            return qa_prompt(question)
        turn = [{"role": "user", "content": question}]
        return self.tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)

    def answer(self, text: str) -> str:
        """A training row's text: what follows the prompt."""
        return f" {text}" if self.tokenizer is None else text


QA_STYLE = QuestionStyle()
QA_HEAD, QA_TAIL = QA_TEMPLATE.split("{question}")


def asked_question(prompt: str) -> str | None:
    """The question a QA-template prompt asks, or None for any other prompt."""
    if prompt.startswith(QA_HEAD) and prompt.endswith(QA_TAIL) and len(prompt) > len(QA_HEAD):
        return prompt[len(QA_HEAD) : len(prompt) - len(QA_TAIL)]
    return None


def question_style(tokenizer: ChatTokenizer) -> QuestionStyle:
    """The chat style where the tokenizer has a chat template, else the QA template."""
    return QuestionStyle(tokenizer) if getattr(tokenizer, "chat_template", None) else QA_STYLE


ANSWER_MARGIN = 16  # new tokens beyond the answer's: room for "The answer is ..." before it
ANSWER_STOP = ("\n",)  # an answer is one line


def answer_budgets(tokenizer: PreTrainedTokenizerBase, answers: Sequence[str]) -> list[int]:
    """New tokens a model is given to answer: each answer's own (after the template's space,
    no special tokens) plus ANSWER_MARGIN; generation also stops at ANSWER_STOP."""
    spaced = [" " + a.strip() for a in answers]
    return [len(ids) + ANSWER_MARGIN
            for ids in tokenizer(spaced, add_special_tokens=False)["input_ids"]]  # fmt: skip


def full_text(sample: Sample) -> str:
    """The whole sequence a model sees: the prompt (if any) followed by the text."""
    return sample.prompt + sample.text


def first_line_end(text: str) -> int:
    """Characters in the first line of `text` including its newline; 0 for a one-line text."""
    return text.find("\n") + 1


def prompt_chars(sample: Sample) -> int:
    """Leading characters of `full_text(sample)` that form its prompt; 0 when the fallback (counted
    in tokens, after a window's context) applies."""
    if sample.is_qa:
        return len(sample.prompt)
    line = first_line_end(sample.text)
    return len(sample.prompt) + line if line else 0


def prefix_lengths(
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    fallback_tokens: int = FALLBACK_TOKENS,
) -> list[int]:
    """How many leading tokens of each sample's encoded full text form its prompt."""
    texts = [full_text(s) for s in samples]
    encoded = tokenizer(texts, add_special_tokens=True, return_offsets_mapping=True)
    lengths = []
    for sample, offsets in zip(samples, encoded["offset_mapping"], strict=True):
        cut = prompt_chars(sample)
        if cut == 0:
            context = tokens_within(offsets, len(sample.prompt)) if sample.prompt else 0
            lengths.append(min(context + fallback_tokens, len(offsets) - 1))
        else:
            lengths.append(min(tokens_within(offsets, cut), len(offsets) - 1))
    return lengths


def tokens_within(offsets: Sequence[tuple[int, int]], chars: int) -> int:
    """How many tokens end within the first `chars` characters (special tokens included)."""
    return sum(1 for start, end in offsets if end <= chars or start == end == 0)


def prompt_texts(
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    fallback_tokens: int = FALLBACK_TOKENS,
) -> list[str]:
    """Each sample's prompt as text (a one-line text's: what its fallback tokens cover)."""
    out = []
    for sample, tokens in zip(
        samples, prefix_lengths(tokenizer, samples, fallback_tokens), strict=True
    ):
        text, cut = full_text(sample), prompt_chars(sample)
        if cut == 0:
            offsets = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
            cut = max((end for _, end in offsets["offset_mapping"][:tokens]), default=0)
        out.append(text[:cut])
    return out
