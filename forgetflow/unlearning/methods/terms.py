"""Loss pieces the methods share: the retain term (NLL or KL to the reference), the anti-sample
term, per-row sequence scores and the sum of weighted terms with their logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import sequence_logprob, sequence_nll
from forgetflow.lm.tokens import TokenBatch, token_counts
from forgetflow.records import LossOutput
from forgetflow.unlearning.methods.batch import RETAIN_TOPK, TopK, UnlearningBatch

RetainLoss = Literal["nll", "kl"]


class MethodSettings(BaseModel):
    """What every method's config has: strict and frozen, with the weight of the anti-sample NLL
    term (`antisample_term`), 0 by default: a method named after a paper is that paper's loss."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    antisample_weight: float = Field(
        0.0, ge=0.0, description="weight of an NLL term on the anti-samples (the forget rows' "
        "falsified twins); 0: the paper's method alone, e.g. 1.0 adds the term",
    )  # fmt: skip


class RetainSettings(MethodSettings):
    """A method with a retain term, weighted by `retain_weight`."""

    retain_weight: float = Field(
        1.0, ge=0.0, description="weight of the retain term (descent on the retain rows) in "
        "the loss; 1: as much as the forget term, 0: no retain term",
    )  # fmt: skip


class RetainChoiceSettings(RetainSettings):
    """A retain term that is the NLL or a KL to the reference's top-k (`retain_term`)."""

    retain_loss: RetainLoss = Field(
        "nll", description="the retain term: nll: the retain rows' mean NLL; kl: the mean "
        "KL(p_ref || p_theta) per retain token over the reference model's top-k tokens",
    )  # fmt: skip
    kl_top_k: int = Field(
        32, ge=1, description="under retain_loss kl: reference tokens kept per retain position "
        "(the top k; exact when k >= the vocabulary size)",
    )  # fmt: skip


# (log name, weight, value); a None value is a term absent from this batch
Term = tuple[str, float, torch.Tensor | None]


class MissingNeedError(ValueError):
    """The batch lacks something the method's `needs` asks the loop for."""


def _required(batch: UnlearningBatch, need: str) -> Any:
    value = getattr(batch.reference, need, None) if batch.reference is not None else None
    if value is None:
        raise MissingNeedError(
            f"the batch has no reference {need!r}: the loop must fill what the method's needs() "
            "returns"
        )
    return value


def reference_logp(batch: UnlearningBatch, need: str) -> torch.Tensor:
    """The reference's (B,) sequence log-probs `need` (FORGET_LOGP or PREFERRED_LOGP)."""
    return _required(batch, need)


def reference_topk(batch: UnlearningBatch) -> TopK:
    """The reference's top-k next-token distributions on the retain rows (RETAIN_TOPK)."""
    return _required(batch, RETAIN_TOPK)


def sequence_scores(model: PreTrainedModel, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(row), mean token NLL) of each row, (B,) each, from one forward pass."""
    logp = sequence_logprob(model, batch)
    counts = token_counts(batch).to(logp.device, logp.dtype)
    return logp, -logp / counts


def next_token_logprobs(model: PreTrainedModel, batch: TokenBatch) -> torch.Tensor:
    """log p(. | tokens <= t) at each position t, (B, T-1, V), float32."""
    device = next(model.parameters()).device  # model may be a DDP or peft wrapper
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    return torch.log_softmax(logits[:, :-1].float(), dim=-1)


def topk_kl(model: PreTrainedModel, batch: TokenBatch, reference: TopK) -> torch.Tensor:
    """KL(p_ref || p_theta) of each row, (B,), over the reference's coarsened distribution: at
    each valid position the k reference tokens and one bucket for the rest of the vocabulary,
    sum_j p_ref(j) * (log p_ref(j) - log p_theta(j)) + P_ref * (log P_ref - log P_theta), P the
    rest's mass; a true KL (>= 0, the full KL when k is the vocabulary size), averaged over the
    row's valid positions."""
    logprobs = next_token_logprobs(model, batch)  # (B, T-1, V)
    if reference.logprobs.shape[:2] != logprobs.shape[:2]:
        raise ValueError(
            f"reference top-k covers {tuple(reference.logprobs.shape[:2])} positions, the batch "
            f"{tuple(logprobs.shape[:2])}: the reference must be padded to the batch width"
        )
    ref = reference.logprobs.to(logprobs.device, logprobs.dtype)  # (B, T-1, k)
    indices = reference.indices.to(logprobs.device).long()
    theta = logprobs.gather(-1, indices)  # (B, T-1, k)
    # the rest's log-mass under theta; a finite floor keeps gradients finite when k = V
    floor = torch.finfo(logprobs.dtype).min
    theta_rest = logprobs.scatter(-1, indices, floor).logsumexp(dim=-1)  # (B, T-1)
    ref_rest = reference.rest.to(logprobs.device, logprobs.dtype).exp()  # P_ref, 0 when k = V
    rest = torch.xlogy(ref_rest, ref_rest) - ref_rest * theta_rest
    per_position = (ref.exp() * (ref - theta)).sum(dim=-1) + rest  # (B, T-1)
    valid = batch.scored().to(logprobs.device)
    return (per_position * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)


def retain_term(
    model: PreTrainedModel, batch: UnlearningBatch, weight: float, kind: RetainLoss = "nll"
) -> Term:
    """The retain term: mean NLL of the retain rows, or their mean KL(p_ref || p_theta) against
    the cached reference top-k (`topk_kl`); not computed without retain rows or at weight 0."""
    name = f"retain_{kind}"
    if batch.retain is None or weight == 0:
        return name, weight, None
    if kind == "kl":
        return name, weight, topk_kl(model, batch.retain, reference_topk(batch)).mean()
    return name, weight, sequence_nll(model, batch.retain).mean()


def antisample_term(model: PreTrainedModel, batch: UnlearningBatch, weight: float) -> Term:
    """The anti-sample term: mean NLL of the anti-samples (falsified twins of forget rows), which
    the model should learn in place of the forget text; not computed when absent or at weight 0."""
    if batch.antisamples is None or weight == 0:
        return "antisample_nll", weight, None
    return "antisample_nll", weight, sequence_nll(model, batch.antisamples).mean()


def combine(forget_nll: torch.Tensor, terms: Sequence[Term]) -> LossOutput:
    """loss = sum of weight * value over the present terms; logs the loss, the mean forget NLL
    (`forget_nll`, (B,)) and each present term's unweighted value."""
    present = [(name, weight, value) for name, weight, value in terms if value is not None]
    if not present:
        raise ValueError("no loss term is present in this batch")
    total = torch.stack([weight * value for _, weight, value in present]).sum()
    logs = {name: value.item() for name, _, value in present}
    logs["forget_nll"] = forget_nll.detach().mean().item()
    logs["loss"] = total.item()
    return LossOutput(loss=total, logs=logs)


def retain_needs(kind: RetainLoss) -> frozenset[str]:
    """What a retain term of this kind needs from the reference."""
    return frozenset({RETAIN_TOPK}) if kind == "kl" else frozenset()
