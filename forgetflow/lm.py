"""Teacher-forced language-model computations shared by scoring, training and utility."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded token ids and their attention mask, both (B, T); `loss_mask` (B, T) marks the
    tokens that count when a row is scored (a QA row's answer), None: every token but padding."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor | None = None

    def scored(self) -> torch.Tensor:
        """(B, T-1) bool: position t predicts token t+1, and that token counts."""
        valid = self.attention_mask[:, 1:].bool()
        return valid if self.loss_mask is None else valid & self.loss_mask[:, 1:].bool()


def encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, with the tokenizer's own special tokens (e.g. BOS)."""
    return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"]]


def prompt_ids(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str | Sequence[int]]
) -> list[list[int]]:
    """Token ids of each prompt: text is encoded with special tokens, ids pass through."""
    texts = [p for p in prompts if isinstance(p, str)]
    encoded = iter(encode(tokenizer, texts)) if texts else iter(())
    ids = [next(encoded) if isinstance(p, str) else [int(t) for t in p] for p in prompts]
    if any(not seq for seq in ids):
        raise ValueError("a prompt is empty: the model needs at least one token to continue")
    return ids


def pair_ids(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]]
) -> tuple[list[list[int]], list[int]]:
    """(context + continuation ids, continuation length) per pair; the context is encoded with
    special tokens, the continuation without."""
    contexts = encode(tokenizer, [c for c, _ in pairs])
    conts = tokenizer([x for _, x in pairs], add_special_tokens=False)["input_ids"]
    if any(not cont for cont in conts):
        raise ValueError("a continuation is empty: there is nothing to score")
    sequences = [c + list(x) for c, x in zip(contexts, conts, strict=True)]
    return sequences, [len(x) for x in conts]


def pad_right(
    sequences: Sequence[Sequence[int]], pad_id: int, starts: Sequence[int] | None = None
) -> TokenBatch:
    """Right-padded ids and mask; with `starts`, only tokens from index starts[i] on count."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    loss_mask = None
    if starts is not None:
        loss_mask = mask * (torch.arange(width).unsqueeze(0) >= torch.tensor(starts).unsqueeze(1))
    return TokenBatch(ids, mask, loss_mask)


def batches(sequences: Sequence[Sequence[int]], size: int) -> Iterator[list[Sequence[int]]]:
    for start in range(0, len(sequences), size):
        yield list(sequences[start : start + size])


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


def token_counts(batch: TokenBatch) -> torch.Tensor:
    """How many tokens of each row are scored (all but the first, or its loss_mask's), (B,)."""
    return batch.scored().sum(dim=1).clamp(min=1)


def prefix_lengths(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], fallback_tokens: int
) -> list[int]:
    """How many leading tokens of each encoded text form its extraction prompt.

    The prompt is the first line including its newline (e.g. "Name: ...\\n"); a text without a
    newline uses its first `fallback_tokens` tokens. Special tokens (BOS) belong to the prompt,
    and at least one token is always left to extract.
    """
    encoded = tokenizer(list(texts), add_special_tokens=True, return_offsets_mapping=True)
    lengths = []
    for text, offsets in zip(texts, encoded["offset_mapping"], strict=True):
        cut = text.find("\n") + 1
        if cut == 0:
            lengths.append(min(fallback_tokens, len(offsets) - 1))
            continue
        in_prompt = sum(1 for start, end in offsets if end <= cut or start == end == 0)
        lengths.append(min(in_prompt, len(offsets) - 1))
    return lengths
