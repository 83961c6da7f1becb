"""Perplexity of a split: exp of the mean token NLL over all of its tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm.logprobs import target_logprobs
from forgetflow.lm.tokens import batches, encode, pad_right
from forgetflow.models.io import load_model
from forgetflow.records import Sample


@torch.no_grad()
def split_nll(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 16,
) -> tuple[float, int]:
    """Summed token NLL and token count over `texts`."""
    total, count = 0.0, 0
    for chunk in batches(encode(tokenizer, texts), batch_size):
        logprobs, _, valid = target_logprobs(model, pad_right(chunk, tokenizer.pad_token_id))
        total -= float((logprobs * valid).sum())
        count += int(valid.sum())
    return total, count


def perplexity_table(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    model_label: str,
) -> pa.Table:
    splits = sorted({s.split for s in samples})
    rows = []
    for split in splits:
        total, count = split_nll(model, tokenizer, [s.text for s in samples if s.split == split])
        rows.append((split, model_label, count, total / count, math.exp(total / count)))
    names = ("split", "model", "tokens", "nll", "perplexity")
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})


def utility_summary(table: pa.Table) -> dict[str, float]:
    return {
        f"{row['model']}_{row['split']}_perplexity": row["perplexity"]
        for row in table.select(["model", "split", "perplexity"]).to_pylist()
    }


def utility_models(model_dirs: dict[str, Path], samples: Sequence[Sample]) -> pa.Table:
    """Perplexity per split for every labelled model."""
    tables = []
    for label, model_dir in model_dirs.items():
        model, tokenizer = load_model(model_dir)
        tables.append(perplexity_table(model, tokenizer, samples, label))
    return pa.concat_tables(tables)
