"""Teacher-forced log-probabilities: per token, per sequence, and argmax hits without logits."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm.tokens import TokenBatch, batches, pad_right, pair_ids


def target_logprobs(
    model: PreTrainedModel, batch: TokenBatch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-prob of each next token, whether it is the argmax, and which positions count.

    All three are (B, T-1): position t scores token t+1 given tokens <= t.
    """
    device = next(model.parameters()).device  # model may be a DDP or peft wrapper
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    logits = logits[:, :-1].float()  # (B, T-1, V)
    targets = ids[:, 1:]  # (B, T-1)
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    hits = logits.argmax(dim=-1).eq(targets)
    return logprobs, hits, batch.scored().to(device)


def sequence_nll(model: PreTrainedModel, batch: TokenBatch) -> torch.Tensor:
    """Mean token negative log-likelihood of each sequence, (B,), differentiable."""
    logprobs, _, valid = target_logprobs(model, batch)
    counts = valid.sum(dim=1).clamp(min=1)
    return -(logprobs * valid).sum(dim=1) / counts


@torch.no_grad()
def mean_nll(
    model: PreTrainedModel, ids: Sequence[Sequence[int]], starts: Sequence[int], pad_id: int
) -> float:
    """The mean per-row NLL of `ids` (scored from `starts`) in eval mode; the model's mode is
    kept (the utility guard's figure)."""
    was_training = model.training
    model.eval()
    loss = float(sequence_nll(model, pad_right(ids, pad_id, starts)).mean())
    model.train(was_training)
    return loss


def sequence_logprob(model: PreTrainedModel, batch: TokenBatch) -> torch.Tensor:
    """log p(sequence): the sum of the log-probs of each row's scored tokens (all after the first;
    a QA row's answer given its question), (B,), differentiable."""
    logprobs, _, valid = target_logprobs(model, batch)
    return (logprobs * valid).sum(dim=1)


@torch.no_grad()
def pair_logprobs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    batch_size: int = 16,
) -> list[tuple[float, int]]:
    """(summed log-prob, token count) of each pair's continuation given its context (encoded as
    tokens.pair_ids does), teacher-forced, `batch_size` pairs at a time, batched by length (less
    padding), returned in the pairs' order."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be at least 1")
    sequences, tails = pair_ids(tokenizer, pairs)
    order = sorted(range(len(sequences)), key=lambda k: len(sequences[k]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(sequences)
    for chunk in batches(order, batch_size):
        batch = pad_right([sequences[k] for k in chunk], tokenizer.pad_token_id)
        scored = torch.zeros_like(batch.input_ids[:, 1:], dtype=torch.bool)
        for row, k in enumerate(chunk):
            end = len(sequences[k]) - 1
            scored[row, end - tails[k] : end] = True
        picked = at_scored(model, batch.input_ids, scored, _target_logprob)
        sums = torch.zeros(len(chunk), dtype=torch.float32, device=picked.device)
        sums.index_add_(0, scored.to(picked.device).nonzero()[:, 0], picked)
        for row, k in enumerate(chunk):
            out[k] = (float(sums[row]), tails[k])
    return out


def _target_logprob(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


HEAD_CHUNK = 512  # positions whose logits exist at once in at_scored


def split_head(model: PreTrainedModel) -> tuple[torch.nn.Module, torch.nn.Linear] | None:
    """The body (which returns the final hidden states) and the plain linear LM head of an HF
    causal LM, or of the model a peft wrapper holds; None when the head is anything else."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    body = getattr(inner, "base_model", inner)
    if type(head) is not torch.nn.Linear or body is inner:
        return None
    return body, head


@torch.no_grad()
def greedy_hits(model: PreTrainedModel, ids: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """(B, T-1) bool: whether the greedy next token after position t is ids[:, t+1], at the
    `scored` (B, T-1) positions of right-padded `ids` (B, T), False elsewhere (at_scored: no
    (B, T, V) logits exist; the argmax is unchanged by the monotone soft-capping or scaling some
    models apply after the head)."""
    hits = torch.zeros_like(scored)
    found = at_scored(model, ids, scored, lambda logits, targets: logits.argmax(dim=-1).eq(targets))
    hits[scored] = found.to(hits.device)
    return hits


def at_scored(
    model: PreTrainedModel,
    ids: torch.Tensor,
    scored: torch.Tensor,
    reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """(N,) `reduce(logits, targets)` at the N `scored` (B, T-1) positions of right-padded `ids`
    (B, T), in their row-major order: logits (n, V) in float32 at n of those positions, targets
    (n,) the tokens that follow them.

    The LM head runs on the body's final hidden states at the scored positions only, HEAD_CHUNK
    at a time, in float32 even under a bfloat16 autocast (bfloat16 logits tie). No padding mask
    is needed: with right padding and causal attention no token sees a pad, and an all-ones mask
    lets SDPA take its causal path. A model whose head is not a plain linear layer goes through
    its whole forward.
    """
    device = next(model.parameters()).device  # model may be a DDP or peft wrapper
    ids, scored = ids.to(device), scored.to(device)
    targets, ones = ids[:, 1:][scored], torch.ones_like(ids)
    parts = split_head(model)
    if parts is None:
        logits = model(input_ids=ids, attention_mask=ones, use_cache=False).logits[:, :-1]
        return reduce(logits[scored].float(), targets)
    body, head = parts
    hidden = body(input_ids=ids, attention_mask=ones, use_cache=False).last_hidden_state[:, :-1]
    picked = hidden[scored].float()  # (N, d)
    if not picked.shape[0]:
        return reduce(picked.new_zeros((0, head.out_features)), targets)
    chunks = zip(picked.split(HEAD_CHUNK), targets.split(HEAD_CHUNK), strict=True)
    with torch.autocast(ids.device.type, enabled=False):
        weight = head.weight.float()
        return torch.cat([reduce(F.linear(part, weight, head.bias), wanted)
                          for part, wanted in chunks])  # fmt: skip
