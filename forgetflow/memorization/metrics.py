"""Per-sample memorization metrics from one teacher-forced pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm import batches, encode, pad_right, target_logprobs
from forgetflow.records import Sample

# Direction of each metric: +1 when a higher value means more memorized.
DIRECTIONS: dict[str, int] = {"ma": 1, "loss": -1}


@dataclass(frozen=True)
class SampleScore:
    sample_id: str
    split: str
    values: dict[str, float]


class ScoringInputError(ValueError):
    """A sample cannot be scored (e.g. fewer than two tokens)."""


@torch.no_grad()
def score_samples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    batch_size: int = 16,
) -> list[SampleScore]:
    """MA (teacher-forced argmax accuracy) and mean token NLL of each sample.

    MA(x) = (1/(T-1)) * sum_{t=1..T-1} [argmax p(. | x_<t) == x_t], as in Jang et al.
    """
    sequences = encode(tokenizer, [s.text for s in samples])
    for sample, seq in zip(samples, sequences, strict=True):
        if len(seq) < 2:
            raise ScoringInputError(f"sample {sample.sample_id!r} has fewer than 2 tokens")
    scores: list[SampleScore] = []
    for offset, chunk in enumerate(batches(sequences, batch_size)):
        logprobs, hits, valid = target_logprobs(model, pad_right(chunk, tokenizer.pad_token_id))
        counts = valid.sum(dim=1).tolist()  # (B,)
        matched = (hits & valid).sum(dim=1).tolist()
        nll = (-(logprobs * valid).sum(dim=1)).tolist()
        for row in range(len(chunk)):
            sample = samples[offset * batch_size + row]
            values = {"ma": matched[row] / counts[row], "loss": nll[row] / counts[row]}
            scores.append(SampleScore(sample.sample_id, sample.split, values))
    return scores
