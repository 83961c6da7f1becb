"""What a method's loss receives: token batches of the forget and retain rows and of the named
auxiliary sets (anti-samples...), the per-sample weights the memorization ledger sets, and
reference-model values.

Reference values come from the model as it was before unlearning. The loop computes them once
before training and caches them (`reference: cached`, no second model resident), or from a
frozen resident copy on every batch (`reference: resident`); a loss cannot tell the two apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from forgetflow.lm.tokens import TokenBatch

# What a method may ask the loop to provide (Method.needs)
FORGET_LOGP = "forget_logp"  # reference log-prob of each forget row
PREFERRED = "preferred"  # a preferred ("I don't know") text per forget row
PREFERRED_LOGP = "preferred_logp"  # reference log-prob of each preferred row
RETAIN_TOPK = "retain_topk"  # reference next-token distributions on the retain rows
AUXILIARY_TOPK = "auxiliary_topk"  # reference next-token distributions on every auxiliary row
NEEDS = frozenset({FORGET_LOGP, PREFERRED, PREFERRED_LOGP, RETAIN_TOPK, AUXILIARY_TOPK})

# The auxiliary set of anti-samples: rows a method may learn in place of the forget rows (each
# tied to its forget sample by `source_id`; any number per forget sample)
ANTISAMPLES = "antisamples"


@dataclass(frozen=True)
class TopK:
    """The reference's k most likely next tokens at each position of a batch, (B, T-1, k): log
    probabilities and token ids; and `rest`, (B, T-1), the log of the probability mass of every
    other token (one more bucket: -inf when k is the vocabulary size, the full distribution)."""

    logprobs: torch.Tensor
    indices: torch.Tensor
    rest: torch.Tensor


def rest_logmass(logprobs: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """log of the mass outside `indices` (..., k) of log-probs (..., V), exact (no 1 - sum):
    -inf when `indices` covers the vocabulary."""
    return logprobs.scatter(-1, indices.long(), float("-inf")).logsumexp(dim=-1)


@dataclass(frozen=True)
class Reference:
    """Reference-model values for the rows of one batch; only what the method needs is set.

    `forget_logp` / `preferred_logp` are (B,) sums of the log-probs of each row's scored tokens
    (lm.sequence_logprob), row-aligned with `batch.forget` / `batch.preferred`.
    """

    forget_logp: torch.Tensor | None = None
    preferred_logp: torch.Tensor | None = None
    retain_topk: TopK | None = None
    # by auxiliary set: row-aligned with batch.auxiliary[name] (ICU's analogous rows)
    auxiliary_topk: Mapping[str, TopK] | None = None


@dataclass(frozen=True)
class UnlearningBatch:
    """One micro-batch. `auxiliary[name]` holds every row of auxiliary set `name` that belongs to
    this batch's forget rows (any number per forget row, in forget-row order); a set with no row
    here is absent."""

    forget: TokenBatch
    retain: TokenBatch | None = None
    auxiliary: Mapping[str, TokenBatch] = field(default_factory=dict)
    preferred: TokenBatch | None = None  # row i: the preferred answer to forget row i
    weights: torch.Tensor | None = None  # (B,) per forget row, mean 1; None: uniform
    reference: Reference | None = None

    @property
    def antisamples(self) -> TokenBatch | None:
        """The anti-sample rows of this batch's forget rows, or None."""
        return self.auxiliary.get(ANTISAMPLES)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-row `values` (B,), each row counted by its weight (weights have mean 1)."""
    if weights is None:
        return values.mean()
    return (values * weights.to(values.device, values.dtype)).mean()
