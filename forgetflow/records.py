"""Frozen runtime records shared by every stage: Sample, Completion, LossOutput, ModelVariant
and Figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

SPLITS = ("forget", "retain", "holdout")


@dataclass(frozen=True)
class Sample:
    """One sample of a split. A QA sample has a `prompt` (the filled question template, context
    only) and its `text` is the answer that follows it; a plain text sample has an empty prompt.
    `source_id` ties a window or an anti-sample to the sample it comes from ("" when none).

    A window `<source_id>#<k>` (`is_window`) is a stretch of a long text, split at ingest: its
    `text` is its own stretch, its `prompt` the text just before it (empty for the first), which
    is unscored context, not a question; prompt + text is the document's text there, as is.
    `paraphrases` are a QA row's paraphrased questions that no training saw (the audit asks
    them)."""

    sample_id: str
    split: str
    text: str
    repetitions: int = -1  # how often training saw it (the built-in world knows); -1: unknown
    prompt: str = ""
    source_id: str = ""
    paraphrases: tuple[str, ...] = ()  # a QA row's untrained paraphrased questions

    @property
    def is_qa(self) -> bool:
        """Whether this is a QA row: a prompt that is a question, not a window's context."""
        return bool(self.prompt) and not self.is_window

    @property
    def is_window(self) -> bool:
        """Whether this is a window of a long text (`<source_id>#<k>`), not a QA row."""
        number = self.sample_id.removeprefix(f"{self.source_id}#")
        return bool(self.source_id) and number != self.sample_id and number.isdigit()


@dataclass(frozen=True)
class Completion:
    """One generated continuation: the new token ids, their decoded text and, where asked, the
    log-probability of each token (None otherwise)."""

    token_ids: tuple[int, ...]
    text: str
    logprobs: tuple[float, ...] | None = None


@dataclass(frozen=True)
class LossOutput:
    """A method's loss and the scalar figures it wants logged."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVariant:
    """One model the audit and utility evaluate: `before` (the target), `after` (unlearned), the
    scenario's `retain` model (never saw the forget set: the gold standard), or a variant a
    stress makes from `parent`."""

    label: str
    model_dir: Path
    parent: str | None = None


@dataclass(frozen=True)
class Figure:
    """One reported number: what a stage measured (`metric`) on which model (`variant`) over
    which rows (`group`: a split such as `forget`, a split's exposure bucket such as
    `forget_r32`, or "" for the whole model); `n` rows or tokens stand behind it (0: not a
    count). The report and MLflow read figures; nothing parses their names back."""

    stage: str
    metric: str
    variant: str
    group: str
    value: float
    higher_is_better: bool | None = None  # None: neither (a count, a threshold)
    n: int = 0

    @property
    def key(self) -> str:
        """The MLflow metric key: `<stage>/<variant>/<metric>`, the metric qualified by its
        group (`audit/after/forget/extraction`)."""
        metric = f"{self.group}/{self.metric}" if self.group else self.metric
        return f"{self.stage}/{self.variant}/{metric}"
