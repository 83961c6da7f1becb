"""The units every stage works on, and the token ids each is scored on.

A long text row is split once, at ingest (`window_samples`), into windows `<id>#<k>` of about
`window` tokens of the model's tokenizer. A later window's prompt is the text just before it
(at most `window` tokens of it): unscored context, not a question (records.Sample.is_window).
Windows are cut at the document's own token boundaries, by character offsets, and each cut is
checked: a window, encoded with its context, scores exactly the document's ids at its place, so
the windows' scored ids, one after another, are the document's (never a decoded and
re-tokenized stretch, which could tokenize differently at its edges).

`tokenize_samples` gives the ids a sample is scored on: a text row every token but the first, a
QA row its answer given the question, a window its own tokens given its context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from transformers.tokenization_utils_base import BatchEncoding, PreTrainedTokenizerBase

from forgetflow.lm.prompts import full_text
from forgetflow.lm.tokens import encode
from forgetflow.records import Sample

DEFAULT_WINDOW = 200
DEFAULT_MIN_TAIL = 11  # EL_10 needs 10 tokens after a one-token prefix


class ScoringInputError(ValueError):
    """A sample cannot be scored (e.g. fewer than two tokens)."""


class WindowingError(ValueError):
    """A long text cannot be cut into windows that keep its token ids."""


@dataclass(frozen=True)
class TokenizedSample:
    """A sample and the ids x_0..x_{T-1} it is scored on (special tokens included).

    The scored targets are ids[start:end]: every token after the first for a text row, the
    answer's tokens (given the question) for a QA row, its own tokens (given the text before it)
    for a window.
    """

    sample: Sample
    ids: tuple[int, ...]
    start: int
    end: int

    @property
    def is_qa(self) -> bool:
        return bool(self.sample.prompt) and not self.sample.is_window


def tokenize_samples(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> list[TokenizedSample]:
    """Text rows score every token but the first; QA rows and windows the tokens of `text` given
    `prompt`."""
    texts = [s for s in samples if not s.prompt]
    prompted = [s for s in samples if s.prompt]
    encoded = iter(encode(tokenizer, [s.text for s in texts]) if texts else [])
    answered = iter(tokenize_prompted(tokenizer, prompted) if prompted else [])
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


def tokenize_prompted(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> list[TokenizedSample]:
    """prompt + text as one string; the scored tokens are those starting at or after the prompt
    (a QA row's answer, a window's own stretch)."""
    if not tokenizer.is_fast:
        raise ScoringInputError("QA samples and windows need a fast tokenizer (character offsets)")
    encoded = encode_prompted(tokenizer, samples)
    out = []
    for row, sample in enumerate(samples):
        span = scored_span(encoded, row, len(sample.prompt))
        if span is None:
            raise ScoringInputError(
                f"sample {sample.sample_id!r} has no token to score after its prompt"
            )
        out.append(TokenizedSample(sample, tuple(encoded["input_ids"][row]), *span))
    return out


def encode_prompted(tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]) -> BatchEncoding:
    return tokenizer(
        [full_text(s) for s in samples],
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )


def scored_span(encoded: BatchEncoding, row: int, prompt_chars: int) -> tuple[int, int] | None:
    """(start, end) of the tokens of row `row` that begin at or after its prompt (special tokens
    and the first token aside); None when there is none."""
    offsets, special = encoded["offset_mapping"][row], encoded["special_tokens_mask"][row]
    after = [
        i
        for i, (begin, _) in enumerate(offsets)
        if begin >= prompt_chars and not special[i] and i > 0
    ]
    return (after[0], after[-1] + 1) if after else None


def window_samples(
    samples: Sequence[Sample],
    tokenizer: PreTrainedTokenizerBase,
    window: int = DEFAULT_WINDOW,
    min_tail: int = DEFAULT_MIN_TAIL,
    max_length: int | None = None,
) -> list[Sample]:
    """Text rows longer than `window` tokens become windows `<sample_id>#<k>` (k from 0), in order.

    Each window holds up to `window` of the document's tokens (special tokens aside; a cut moves a
    few tokens earlier where the document's ids would not survive it there); a last window with
    fewer than `min_tail` tokens joins the one before it, so a text shorter than
    `window + min_tail` tokens stays whole. A window's context is at most `window` tokens, and
    fewer where the model's `max_length` positions would not hold that context beside the window
    (and two special tokens): each window gets what fits beside it, so a short last window of a
    document the model holds whole is scored after all of the text before it, at the positions
    it was trained at. QA rows, texts that fit and samples already windowed pass through
    unchanged.
    """
    if window < 2 or min_tail < 1:
        raise ValueError(f"window must be >= 2 and min_tail >= 1, got {window} and {min_tail}")
    if not tokenizer.is_fast:
        raise WindowingError("windows need a fast tokenizer (character offsets)")
    texts = [s for s in samples if not (s.prompt or s.source_id)]
    encoded = tokenizer([s.text for s in texts], add_special_tokens=False,
                        return_offsets_mapping=True) if texts else {}  # fmt: skip
    rows = iter(zip(encoded.get("input_ids", []), encoded.get("offset_mapping", []), strict=True))
    out: list[Sample] = []
    for sample in samples:
        if sample.prompt or sample.source_id:
            out.append(sample)
            continue
        ids, offsets = next(rows)
        if (
            max_length is not None
            and max_length < window + min_tail + 2
            and len(ids) >= window + min_tail
        ):
            raise WindowingError(
                f"sample {sample.sample_id!r} needs windows, and a window of {window} tokens "
                f"(and a tail of up to {min_tail - 1}) does not fit the model's {max_length} "
                f"positions: set scoring.window to at most {max_length - min_tail - 2}"
            )
        cuts = [0] + [end for _, end in offsets[:-1]] + [len(sample.text)]
        out.extend(document_windows(sample, tokenizer, ids, cuts, window, min_tail, max_length))
    return out


def document_windows(
    doc: Sample,
    tokenizer: PreTrainedTokenizerBase,
    ids: Sequence[int],
    cuts: Sequence[int],
    window: int,
    min_tail: int,
    max_length: int | None,
) -> list[Sample]:
    """The windows of one text of token ids `ids`, each after up to `window` tokens before it (as
    many as fit beside it in `max_length` positions); `cuts[i]` is the character where token i
    begins (the end of token i - 1, so whitespace stays with the token after it)."""

    def cut(k: int, span: tuple[int, int]) -> Sample:
        room = window if max_length is None else max_length - (span[1] - span[0]) - 2
        return cut_window(doc, cuts, k, span, min(window, room))

    bounds = [0]
    while len(ids) - bounds[-1] >= window + min_tail:
        begin, k = bounds[-1], len(bounds) - 1
        for end in range(begin + window, begin + window // 2, -1):
            if own_ids(tokenizer, cut(k, (begin, end))) == ids[begin:end]:
                bounds.append(end)
                break
        else:
            raise WindowingError(
                f"sample {doc.sample_id!r}: no cut near its token {begin + window} keeps the "
                "document's token ids; choose another window size"
            )
    if len(bounds) == 1:
        return [doc]
    bounds.append(len(ids))
    last = cut(len(bounds) - 2, (bounds[-2], bounds[-1]))
    if own_ids(tokenizer, last) != ids[bounds[-2] :]:
        raise WindowingError(
            f"sample {doc.sample_id!r}: its last window from token {bounds[-2]} does not keep "
            "the document's token ids; choose another window size"
        )
    pairs = zip(bounds[:-2], bounds[1:-1], strict=True)
    return [cut(k, pair) for k, pair in enumerate(pairs)] + [last]


def cut_window(
    doc: Sample, cuts: Sequence[int], k: int, span: tuple[int, int], context_tokens: int
) -> Sample:
    """Window `k` of `doc`: its tokens span[0]..span[1]-1 after up to `context_tokens` before."""
    begin, end = span
    context = cuts[max(0, begin - context_tokens)]
    text, prompt = doc.text[cuts[begin] : cuts[end]], doc.text[context : cuts[begin]]
    return replace(doc, sample_id=f"{doc.sample_id}#{k}", text=text, prompt=prompt,
                   source_id=doc.sample_id)  # fmt: skip


def own_ids(tokenizer: PreTrainedTokenizerBase, window: Sample) -> list[int]:
    """The ids a window's own text takes: after its context when it has one."""
    if not window.prompt:
        return list(tokenizer(window.text, add_special_tokens=False)["input_ids"])
    encoded = encode_prompted(tokenizer, [window])
    span = scored_span(encoded, 0, len(window.prompt))
    return list(encoded["input_ids"][0][slice(*span)]) if span else []
