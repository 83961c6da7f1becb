"""Teacher-forced log-probabilities: per token, per sequence, and argmax hits without logits."""

from __future__ import annotations

from collections.abc import Sequence

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
        rows = [sequences[k] for k in chunk]
        logprobs, _, _ = target_logprobs(model, pad_right(rows, tokenizer.pad_token_id))
        for row, k in enumerate(chunk):
            end, tail = len(sequences[k]) - 1, tails[k]
            out[k] = (float(logprobs[row, end - tail : end].sum()), tail)
    return out


HEAD_CHUNK = 512  # positions whose logits exist at once in greedy_hits


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
    `scored` (B, T-1) positions of right-padded `ids` (B, T), False elsewhere.

    MA needs only the argmax of the logits, so the LM head runs on the body's final hidden states
    at the scored positions only, HEAD_CHUNK at a time: no (B, T, V) logits exist (the argmax is
    unchanged by the monotone soft-capping or scaling some models apply after the head). The head
    runs in float32 even under a bfloat16 autocast (bfloat16 logits tie). No padding mask is
    needed: with right padding and causal attention no token sees a pad, and an all-ones mask
    lets SDPA take its causal path. A model whose head is not a plain linear layer goes through
    its whole forward.
    """
    targets, ones = ids[:, 1:], torch.ones_like(ids)
    parts = split_head(model)
    if parts is None:
        logits = model(input_ids=ids, attention_mask=ones, use_cache=False).logits[:, :-1]
        return logits.argmax(dim=-1).eq(targets) & scored
    body, head = parts
    hidden = body(input_ids=ids, attention_mask=ones, use_cache=False).last_hidden_state[:, :-1]
    picked = hidden[scored].float()  # (N, d)
    hits = torch.zeros_like(scored)
    if picked.shape[0]:
        with torch.autocast(ids.device.type, enabled=False):  # bf16 logits would tie
            best = [F.linear(part, head.weight.float(), head.bias).argmax(dim=-1)
                    for part in picked.split(HEAD_CHUNK)]  # fmt: skip
        hits[scored] = torch.cat(best).eq(targets[scored])
    return hits
