"""Token ids: encoding, prompts and pairs, right padding, batches, scored-token counts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
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


def token_counts(batch: TokenBatch) -> torch.Tensor:
    """How many tokens of each row are scored (all but the first, or its loss_mask's), (B,)."""
    return batch.scored().sum(dim=1).clamp(min=1)
