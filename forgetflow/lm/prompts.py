"""The prompt rule: which leading part of a text is the prompt a model is asked to continue."""

from __future__ import annotations

from collections.abc import Sequence

from transformers.tokenization_utils_base import PreTrainedTokenizerBase


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
