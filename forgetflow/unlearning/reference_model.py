"""Reference-model values for methods that compare with the model before unlearning (NPO,
IdkDPO, KL retain terms), without keeping a second model in memory.

`CachedReference` computes every value once, before the first update, and keeps only the
numbers: a (N,) log-prob per forget/preferred row and the top-k next-token distribution of each
retain row (and of each auxiliary row, for a method that compares on them: ICU's KL to the
original on its analogous rows). `ResidentReference` keeps a frozen copy of the model and
computes the same values per batch (what the research code does); both give the same batch values.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import sequence_logprob
from forgetflow.lm.tokens import TokenBatch, batches, pad_right
from forgetflow.unlearning.methods.batch import (
    AUXILIARY_TOPK,
    FORGET_LOGP,
    PREFERRED_LOGP,
    RETAIN_TOPK,
    Reference,
    TopK,
    rest_logmass,
)

REFERENCE_BATCH = 16
Rows = tuple[Sequence[Sequence[int]], Sequence[int]]  # token ids and first scored index per row


def topk_rows(model: PreTrainedModel, batch: TokenBatch, k: int) -> list[TopK]:
    """Per row: the top-k next-token log-probs and ids at each of its T_i - 1 positions."""
    device = next(model.parameters()).device
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1].float()
    k = min(k, logits.shape[-1])
    logprobs = torch.log_softmax(logits, dim=-1)
    values, indices = logprobs.topk(k, dim=-1)
    rest = rest_logmass(logprobs, indices)
    lengths = mask[:, 1:].sum(dim=1).tolist()
    return [TopK(values[r, :n].cpu(), indices[r, :n].to(torch.int32).cpu(), rest[r, :n].cpu())
            for r, n in enumerate(lengths)]  # fmt: skip


def width_of(batch: TokenBatch) -> int:
    """The positions a padded batch predicts: its width less one."""
    return batch.input_ids.shape[1] - 1


def stack_topk(rows: Sequence[TopK], width: int) -> TopK:
    """Rows padded to `width` positions: (B, width, k); padding holds log-prob 0, token 0 and no
    rest mass (-inf)."""
    k = rows[0].logprobs.shape[-1]
    logprobs = torch.zeros(len(rows), width, k)
    indices = torch.zeros(len(rows), width, k, dtype=torch.long)
    rest = torch.full((len(rows), width), float("-inf"))
    for r, row in enumerate(rows):
        logprobs[r, : len(row.logprobs)] = row.logprobs
        indices[r, : len(row.indices)] = row.indices.long()
        rest[r, : len(row.rest)] = row.rest
    return TopK(logprobs, indices, rest)


@torch.no_grad()
def logprobs_of(
    model: PreTrainedModel, rows: Sequence[Sequence[int]], starts: Sequence[int], pad: int
) -> torch.Tensor:
    out = [sequence_logprob(model, pad_right(rows[b : b + REFERENCE_BATCH], pad,
                                             starts[b : b + REFERENCE_BATCH])).float().cpu()
           for b in range(0, len(rows), REFERENCE_BATCH)]  # fmt: skip
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def topk_of(model: PreTrainedModel, rows: Sequence[Sequence[int]], pad: int, k: int) -> list[TopK]:
    return [t for chunk in batches(rows, REFERENCE_BATCH)
            for t in topk_rows(model, pad_right(chunk, pad), k)]  # fmt: skip


class CachedReference:
    """Values of the model as it is now (call before training), kept by row index."""

    def __init__(
        self,
        model: PreTrainedModel,
        needs: frozenset[str],
        pad: int,
        forget: Rows,
        preferred: Rows,
        retain: Sequence[Sequence[int]],
        top_k: int,
        auxiliary: Mapping[str, Sequence[Sequence[int]]] | None = None,
    ) -> None:
        """`forget` and `preferred`: (token ids, index of the first scored token) per row;
        `auxiliary`: each auxiliary set's token ids."""
        was_training = model.training
        model.eval()
        self.forget = logprobs_of(model, *forget, pad) if FORGET_LOGP in needs else None
        self.preferred = logprobs_of(model, *preferred, pad) if PREFERRED_LOGP in needs else None
        self.retain = topk_of(model, retain, pad, top_k) if RETAIN_TOPK in needs else None
        self.auxiliary = ({name: topk_of(model, rows, pad, top_k)
                           for name, rows in (auxiliary or {}).items()}
                          if AUXILIARY_TOPK in needs else None)  # fmt: skip
        model.train(was_training)

    def batch(
        self, forget: Sequence[int], retain: Sequence[int], retain_batch: TokenBatch | None,
        auxiliary: Mapping[str, tuple[Sequence[int], TokenBatch]] | None = None,
    ) -> Reference:  # fmt: skip
        """The values of forget rows `forget` (and their preferred rows) and retain rows
        `retain`, by index; `retain_batch` gives the padded width; `auxiliary`: each auxiliary
        set's row indices in this batch and their padded batch."""
        topk = None
        if self.retain is not None and retain_batch is not None:
            topk = stack_topk([self.retain[i] for i in retain], width_of(retain_batch))
        tied = None
        if self.auxiliary is not None:
            tied = {name: stack_topk([self.auxiliary[name][i] for i in rows], width_of(batch))
                    for name, (rows, batch) in (auxiliary or {}).items()}  # fmt: skip
        return Reference(
            forget_logp=self.forget[list(forget)] if self.forget is not None else None,
            preferred_logp=self.preferred[list(forget)] if self.preferred is not None else None,
            retain_topk=topk, auxiliary_topk=tied,
        )  # fmt: skip


class ResidentReference:
    """A frozen copy of the model, asked on every batch."""

    def __init__(self, model: PreTrainedModel, needs: frozenset[str], top_k: int) -> None:
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.needs, self.top_k = needs, top_k

    @torch.no_grad()
    def values(
        self, forget: TokenBatch, preferred: TokenBatch | None, retain: TokenBatch | None,
        auxiliary: Mapping[str, TokenBatch] | None = None,
    ) -> Reference:  # fmt: skip
        topk = tied = None
        if RETAIN_TOPK in self.needs and retain is not None:
            topk = stack_topk(topk_rows(self.model, retain, self.top_k), width_of(retain))
        if AUXILIARY_TOPK in self.needs:
            tied = {name: stack_topk(topk_rows(self.model, rows, self.top_k), width_of(rows))
                    for name, rows in (auxiliary or {}).items()}  # fmt: skip
        forget_logp = preferred_logp = None
        if FORGET_LOGP in self.needs:
            forget_logp = sequence_logprob(self.model, forget).float().cpu()
        if PREFERRED_LOGP in self.needs and preferred is not None:
            preferred_logp = sequence_logprob(self.model, preferred).float().cpu()
        return Reference(forget_logp, preferred_logp, topk, tied)
