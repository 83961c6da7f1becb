"""The scoring stage: ledger rows for a model over a set of samples."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.memorization.ledger import ledger_rows
from forgetflow.memorization.metrics import score_samples
from forgetflow.records import Sample


def score_to_ledger(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    step: int,
    batch_size: int = 16,
    metrics: tuple[str, ...] = ("ma", "loss"),
    window: int | None = None,
) -> pa.Table:
    scores = score_samples(model, tokenizer, samples, batch_size, metrics=metrics, window=window)
    return ledger_rows(scores, step)
