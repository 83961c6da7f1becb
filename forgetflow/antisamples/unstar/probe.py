"""Asking a model UnSTAR's questions: greedy, one line of at most `max_tokens` new tokens, in the
model's question style (lm.prompts.question_style: the QA template, or the chat template of an
instruct model); a question counts as answered when the completion gives what it expects (the
answer matcher's `answer_given`: the answer, or for a reversed question the subject)."""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.antisamples.unstar.facts import Question
from forgetflow.data.answers import Match, answer_given
from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.lm.prompts import ANSWER_STOP, QA_STYLE, QuestionStyle

PROBE_TOKENS = 16


def probe(
    backend: GenerationBackend, questions: Sequence[Question], max_tokens: int = PROBE_TOKENS,
    style: QuestionStyle = QA_STYLE,
) -> list[str]:  # fmt: skip
    """The greedy completion of each question asked in `style`, in order."""
    if not questions:
        return []
    params = SamplingParams(max_tokens=max_tokens, stop=ANSWER_STOP)
    return [c.text for c in backend.generate([style.prompt(q.text) for q in questions], params)]


def answered(questions: Sequence[Question], completions: Sequence[str]) -> list[Match]:
    """Whether each completion gives its question's expected answer, and why."""
    return [answer_given(q.expects, c) for q, c in zip(questions, completions, strict=True)]


def ask(
    backend: GenerationBackend, questions: Sequence[Question], max_tokens: int = PROBE_TOKENS,
    style: QuestionStyle = QA_STYLE,
) -> tuple[list[str], list[bool]]:  # fmt: skip
    """Each question's greedy completion and whether it gives what the question expects."""
    completions = probe(backend, questions, max_tokens, style)
    return completions, [bool(m) for m in answered(questions, completions)]
