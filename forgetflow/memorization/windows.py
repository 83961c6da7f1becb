"""The token ids a sample is scored on: a QA row's answer span, a long document's windows.

Scoring works on these ids directly, so a window is never decoded and re-tokenized (which could
tokenize differently at its edges).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm.prompts import full_text
from forgetflow.lm.tokens import encode
from forgetflow.records import Sample

DEFAULT_WINDOW = 200
DEFAULT_MIN_TAIL = 11  # EL_10 needs 10 tokens after a one-token prefix


class ScoringInputError(ValueError):
    """A sample cannot be scored (e.g. fewer than two tokens)."""


@dataclass(frozen=True)
class TokenizedSample:
    """A sample and the ids x_0..x_{T-1} it is scored on (special tokens included).

    The scored targets are ids[start:end]: every token after the first for a text row, the
    answer's tokens (given the question) for a QA row.
    """

    sample: Sample
    ids: tuple[int, ...]
    start: int
    end: int

    @property
    def is_qa(self) -> bool:
        return bool(self.sample.prompt)


def tokenize_samples(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> list[TokenizedSample]:
    """Text rows score every token but the first; QA rows the tokens of `text` given `prompt`."""
    texts = [s for s in samples if not s.prompt]
    qas = [s for s in samples if s.prompt]
    encoded = iter(encode(tokenizer, [s.text for s in texts]) if texts else [])
    answered = iter(tokenize_qa(tokenizer, qas) if qas else [])
    out = []
    for sample in samples:
        if sample.prompt:
            out.append(next(answered))
            continue
        ids = tuple(next(encoded))
        if len(ids) < 2:
            raise ScoringInputError(f"sample {sample.sample_id!r} has fewer than 2 tokens")
        out.append(TokenizedSample(sample, ids, 1, len(ids)))
    return out


def tokenize_qa(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> list[TokenizedSample]:
    """prompt + text as one string; the answer tokens are those starting at or after the prompt."""
    if not tokenizer.is_fast:
        raise ScoringInputError("QA samples need a fast tokenizer (character offsets)")
    encoded = tokenizer(
        [full_text(s) for s in samples],
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    out = []
    for row, sample in enumerate(samples):
        offsets, special = encoded["offset_mapping"][row], encoded["special_tokens_mask"][row]
        answer = [
            i
            for i, (begin, _) in enumerate(offsets)
            if begin >= len(sample.prompt) and not special[i] and i > 0
        ]
        if not answer:
            raise ScoringInputError(
                f"QA sample {sample.sample_id!r} has no answer token after its prompt"
            )
        ids = tuple(encoded["input_ids"][row])
        out.append(TokenizedSample(sample, ids, answer[0], answer[-1] + 1))
    return out


def split_windows(
    samples: Sequence[Sample | TokenizedSample],
    tokenizer: PreTrainedTokenizerBase,
    window: int = DEFAULT_WINDOW,
    min_tail: int = DEFAULT_MIN_TAIL,
) -> list[TokenizedSample]:
    """Text rows longer than `window` tokens become windows `<sample_id>#<k>` (k from 0).

    Each window keeps the document's leading special tokens (BOS) and holds up to `window` ids
    in all; a last window with fewer than `min_tail` content tokens joins the one before it.
    QA rows and rows that fit pass through unchanged.
    """
    if window < 2 or min_tail < 1:
        raise ValueError(f"window must be >= 2 and min_tail >= 1, got {window} and {min_tail}")
    raw = [s for s in samples if isinstance(s, Sample)]
    tokenized = iter(tokenize_samples(tokenizer, raw) if raw else [])
    out: list[TokenizedSample] = []
    for item in samples:
        item = next(tokenized) if isinstance(item, Sample) else item
        if item.is_qa or len(item.ids) <= window:
            out.append(item)
        else:
            out.extend(windows_of(item, tokenizer, window, min_tail))
    return out


def windows_of(
    item: TokenizedSample, tokenizer: PreTrainedTokenizerBase, window: int, min_tail: int
) -> list[TokenizedSample]:
    special = tokenizer.get_special_tokens_mask(list(item.ids), already_has_special_tokens=True)
    lead = next((i for i, flag in enumerate(special) if not flag), len(special))
    trail = next((i for i, flag in enumerate(reversed(special)) if not flag), 0)
    prefix, suffix = item.ids[:lead], item.ids[len(item.ids) - trail :]
    content = item.ids[lead : len(item.ids) - trail]
    size = window - len(prefix)
    if size < 1:
        raise ValueError(f"window {window} leaves no room after {len(prefix)} special tokens")
    chunks = [content[i : i + size] for i in range(0, len(content), size)]
    if len(chunks) > 1 and len(chunks[-1]) < min_tail:
        chunks[-2:] = [chunks[-2] + chunks[-1]]
    out = []
    for k, chunk in enumerate(chunks):
        ids = prefix + chunk + (suffix if k == len(chunks) - 1 else ())
        text = tokenizer.decode(list(chunk), skip_special_tokens=True)
        origin = item.sample.sample_id
        sample = replace(item.sample, sample_id=f"{origin}#{k}", text=text, source_id=origin)
        out.append(TokenizedSample(sample, ids, max(1, len(prefix)), len(ids)))
    return out
