"""The scoring stage: ledger rows for a model over a set of samples."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pyarrow as pa
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend
from forgetflow.generation.registry import BackendConfig, open_backend
from forgetflow.memorization.ledger import ledger_rows
from forgetflow.memorization.metrics import parse_metrics, score_samples
from forgetflow.models.io import load_model
from forgetflow.records import Sample


def score_to_ledger(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    step: int,
    batch_size: int = 16,
    metrics: tuple[str, ...] = ("ma", "loss"),
    generator: GenerationBackend | None = None,
) -> pa.Table:
    scores = score_samples(
        model, tokenizer, samples, batch_size, metrics=metrics, generator=generator
    )
    return ledger_rows(scores, step)


def score_model(
    model_dir: Path,
    samples: Sequence[Sample],
    metrics: tuple[str, ...],
    batch_size: int,
    generator: BackendConfig,
    log_dir: Path,
) -> pa.Table:
    """The step-0 ledger of the model in `model_dir`; extraction metrics decode through the
    configured backend (opened only when one is asked for), the rest runs on the model."""
    model, tokenizer = load_model(model_dir)
    with extraction_backend(generator, model_dir, log_dir, (model, tokenizer), metrics) as backend:
        return score_to_ledger(model, tokenizer, samples, 0, batch_size, metrics, backend)


def extraction_backend(
    generator: BackendConfig,
    model_dir: str | Path,
    log_dir: Path,
    loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase],
    metrics: Sequence[str],
) -> AbstractContextManager[GenerationBackend | None]:
    """The configured backend when `metrics` ask for extraction (a vLLM server starts only then),
    else nothing."""
    if any(spec.family and spec.family.decodes for spec in parse_metrics(metrics)):
        return open_backend(generator, model_dir, log_dir, loaded)
    return nullcontext()
