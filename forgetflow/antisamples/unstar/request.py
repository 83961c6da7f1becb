"""A facts erasure request as the unlearning stage gets it: the targets, the template set the
`template` generators write with (None: the request's relations have none), and the evaluation
questions, which no generator ever sees (a generator is told to avoid them)."""

from __future__ import annotations

from dataclasses import dataclass

from forgetflow.antisamples.unstar.facts import FactTarget, Question
from forgetflow.antisamples.unstar.templates import TemplateSet


@dataclass(frozen=True)
class FactRequest:
    targets: tuple[FactTarget, ...]  # each target_id is its forget sample's sample_id
    generator: TemplateSet | None = None
    evaluation: tuple[Question, ...] = ()
