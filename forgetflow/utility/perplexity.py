"""Perplexity of a split: exp of the mean token NLL over all of its tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm.logprobs import target_logprobs
from forgetflow.lm.tokens import batches, pad_right
from forgetflow.memorization.windows import tokenize_samples
from forgetflow.records import Sample


@torch.no_grad()
def unit_nlls(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    batch_size: int = 16,
) -> list[tuple[float, int]]:
    """Summed token NLL and token count of each of `samples`: a text's tokens after the first, a
    window's own tokens given the text before it (a long text's windows count each of its tokens
    once), a QA row's answer as a text of its own."""
    units = [s if s.is_window else Sample(s.sample_id, s.split, s.text) for s in samples]
    out: list[tuple[float, int]] = []
    for chunk in batches(tokenize_samples(tokenizer, units), batch_size):
        rows = pad_right([i.ids for i in chunk], tokenizer.pad_token_id, [i.start for i in chunk])
        logprobs, _, valid = target_logprobs(model, rows)
        totals, counts = -(logprobs * valid).sum(dim=1), valid.sum(dim=1)
        out += [(float(t), int(c)) for t, c in zip(totals, counts, strict=True)]
    return out


def split_nll(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    batch_size: int = 16,
) -> tuple[float, int]:
    """Summed token NLL and token count over all of `samples` (unit_nlls' units)."""
    per_unit = unit_nlls(model, tokenizer, samples, batch_size)
    return sum(t for t, _ in per_unit), sum(c for _, c in per_unit)
