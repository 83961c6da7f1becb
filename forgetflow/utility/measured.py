"""What the utility stage measures and returns: per-variant scores, the run, the result."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from forgetflow.records import Figure, ModelVariant
from forgetflow.utility.fluency import Fluency
from forgetflow.utility.qa import QAScore
from forgetflow.utility.sets import UtilitySets


@dataclass(frozen=True)
class VariantScores:
    """What one variant measured: each eval passage's (NLL sum, tokens), each QA set's item
    scores, and its fluency counts (all zero without general text)."""

    label: str
    passages: tuple[tuple[float, int], ...]
    qa: dict[str, list[QAScore]]
    fluency: Fluency

    @property
    def tokens(self) -> int:
        return sum(count for _, count in self.passages)

    @property
    def nll(self) -> float:
        return sum(total for total, _ in self.passages) / max(self.tokens, 1)

    @property
    def ppl(self) -> float | None:
        """Perplexity on general text's eval half; None without general text."""
        return math.exp(self.nll) if self.tokens else None


@dataclass(frozen=True)
class UtilityRun:
    """What the stage evaluates: the variants, the sets, and which variant is the reference
    (`subject`: the model before unlearning, whose perplexity the collapse rule compares with
    and whose answers qualify a retain-side set) and which one is the retain model."""

    variants: Sequence[ModelVariant]
    sets: UtilitySets
    subject: str = "before"
    retain_label: str = "retain_model"


@dataclass(frozen=True)
class UtilityResult:
    samples: pa.Table  # the `utility` table: one row per (variant, set, item, metric)
    figures: list[Figure]
    summary: dict  # utility_summary.json
