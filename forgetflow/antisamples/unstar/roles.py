"""UnSTAR's generators by role: who writes the paraphrased questions, the falsified answers and
the misleading rationales. Each role takes its own generator (template rules, the target model,
another model directory, a vLLM server); every anti-sample names the generator of each role.

A generator takes every target of a request at once, so a model-backed one sends one batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from forgetflow.antisamples.unstar.facts import FactTarget, Question

ROLES = ("questions", "answers", "rationales")


class QuestionWriter(Protocol):
    name: str

    def questions(
        self, targets: Sequence[FactTarget], per_variant: int, seed: int
    ) -> list[Question]:
        """Up to `per_variant` questions of each variant type (facts.VARIANTS) per target, each
        naming the subject (a reversed one, the object) and none equal to the target's own."""
        ...


class AnswerWriter(Protocol):
    name: str

    def answers(self, targets: Sequence[FactTarget], n: int, seed: int) -> Mapping[str, list[str]]:
        """Up to `n` falsified answers per target id: of the answer's type, never the answer,
        never one of the target's distractors."""
        ...


class RationaleWriter(Protocol):
    name: str

    def rationales(self, items: Sequence[tuple[FactTarget, str, str]], seed: int) -> list[str]:
        """One misleading rationale per (target, question, falsified answer): it supports the
        falsified answer and never mentions the true one (the leak filter checks)."""
        ...
