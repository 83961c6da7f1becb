"""Frozen runtime records shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

SPLITS = ("forget", "retain", "holdout")


@dataclass(frozen=True)
class Sample:
    """One sample of a split. A QA sample has a `prompt` (the filled question template, context
    only) and its `text` is the answer that follows it; a plain text sample has an empty prompt.
    `source_id` ties a window or an anti-sample to the sample it comes from ("" when none).

    A window `<source_id>#<k>` (`is_window`) is a stretch of a long text, split at ingest: its
    `text` is its own stretch, its `prompt` the text just before it (empty for the first), which
    is unscored context, not a question; prompt + text is the document's text there, as is."""

    sample_id: str
    split: str
    text: str
    repetitions: int = -1  # how often training saw it (the built-in world knows); -1: unknown
    prompt: str = ""
    source_id: str = ""

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
