"""Per-sample memorization metrics by name: `score_samples` runs every requested metric family
(forgetflow.memorization.metrics.registry) on a model: the teacher-forced ones on one shared
forward pass, the others (EL_n, greedy extraction) on the model or a generation backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend
from forgetflow.generation.hf import HFBackend
from forgetflow.memorization.el import LOGIT_ELEMENTS
from forgetflow.memorization.metrics.registry import MetricSpec, ScoringRun, parse_metrics
from forgetflow.memorization.metrics.teacher_forced import teacher_forced
from forgetflow.memorization.windows import TokenizedSample, tokenize_samples
from forgetflow.records import Sample


@dataclass(frozen=True)
class SampleScore:
    sample_id: str
    split: str
    values: dict[str, float]


def check_requests(items: Sequence[TokenizedSample], specs: Sequence[MetricSpec]) -> None:
    """Refuse, before any compute, what cannot be scored (ScoringInputError)."""
    checks = [(spec, spec.family.check) for spec in specs if spec.family and spec.family.check]
    for item in items:
        for spec, check in checks:
            check(item, spec)


def prepare(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample | TokenizedSample]
) -> list[TokenizedSample]:
    """Token ids of each sample (pre-tokenized ones pass through)."""
    raw = [s for s in samples if isinstance(s, Sample)]
    tokenized = iter(tokenize_samples(tokenizer, raw) if raw else [])
    return [next(tokenized) if isinstance(s, Sample) else s for s in samples]


@contextmanager
def eval_mode(model: PreTrainedModel) -> Iterator[PreTrainedModel]:
    """The model in eval mode (no dropout) inside, its previous mode restored after."""
    training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(training)


@torch.no_grad()
def score_samples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample | TokenizedSample],
    batch_size: int = 16,
    metrics: Sequence[str] = ("ma", "loss"),
    token_budget: int | None = None,
    generator: GenerationBackend | None = None,
) -> list[SampleScore]:
    """The requested metrics of each sample, in order, with the model in eval mode (its mode is
    restored after).

    Teacher-forced metrics and EL_n run on `model` itself; extraction (`extract_k`) decodes
    through `generator` (any backend serving this model: a vLLM server for a big forget set),
    by default an HF backend on `model`.

    MA(x) = (1/(T-1)) * sum_{t=1..T-1} [argmax p(. | x_<t) == x_t], as in Jang et al.; a QA row
    scores its answer tokens given the question, a window of a long text (windows.py: made at
    ingest) its own tokens given the text before it. Samples may come pre-tokenized.
    """
    specs = parse_metrics(metrics)
    items = prepare(tokenizer, samples)
    check_requests(items, specs)
    forced = [s for s in specs if s.teacher_forced]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    budget = token_budget or max(1, LOGIT_ELEMENTS // model.config.get_text_config().vocab_size)
    with eval_mode(model):
        values = teacher_forced(model, pad_id, items, forced, batch_size, budget)
        backend = generator or HFBackend(model, tokenizer, batch_size=batch_size)
        run = ScoringRun(model, tokenizer, backend, batch_size)
        for spec in specs:
            if spec.family is None or spec.teacher_forced:
                continue
            column = spec.family.compute(run, items, spec)
            for row, value in zip(values, column, strict=True):
                row[spec.name] = value
    return [
        SampleScore(i.sample.sample_id, i.sample.split, {s.name: v[s.name] for s in specs})
        for i, v in zip(items, values, strict=True)
    ]
