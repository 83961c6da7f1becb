"""Fluency guards: repeated 4-grams, distinct-2 and the collapse flag.

Definitions:

- Prompts: the first `prompts` (default 32) general-text passages longer than `prompt_tokens`
  (default 32) tokens, each cut to its first `prompt_tokens` tokens, the tokenizer's special
  tokens (e.g. BOS) included.
- Continuations: `new_tokens` (default 64) tokens per prompt, greedy (temperature 0, argmax),
  EOS ignored; only the continuation is counted, never the prompt.
- Repeated 4-gram share, on the continuation's token ids (a loop repeats in tokens whatever it
  repeats: words, line breaks, or a fragment with no space, "enenen..."): over all
  continuations pooled, the number of 4-grams that repeat a 4-gram occurring earlier in the same
  continuation, divided by the number of 4-grams (L - 3 for L tokens); 0.0 when there are none.
  A 4-gram shared by two different continuations is not a repeat.
- Distinct-2 (corpus-level distinct-n of Li et al. 2016, n = 2), on words as Li et al. count
  them: a word is a run of non-whitespace characters of the decoded continuation, and each line
  break is a word of its own. The number of distinct bigrams over all continuations together,
  divided by the total number of bigrams over all of them (L - 1 for L words); 0.0 when there
  are none. On token ids a from-scratch model's runs of punctuation tokens ("......") would
  count as one bigram repeated.
- Collapse flag: a model variant is collapsed when any of these holds: its general-text
  perplexity exceeds `ppl_factor` (default 5) times the before variant's (checked only where a
  before variant's perplexity is known); its repeated 4-gram share exceeds `max_repeated_share`
  (default 0.5); its distinct-2 is below `min_distinct_share` (default 0.2). A share over no
  n-grams is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend, SamplingParams, generate_each
from forgetflow.lm.tokens import batches, encode

WORD = re.compile(r"\S+|\n")
ENCODE_CHUNK = 64  # passages tokenized at once while looking for long enough ones


class FluencyInputError(ValueError):
    """The fluency measurement cannot run on these inputs (e.g. no passage is long enough)."""


def words(text: str) -> list[str]:
    """The words n-grams are counted on: runs of non-whitespace, and each line break."""
    return WORD.findall(text)


def ngrams(ids: Sequence[Hashable], n: int) -> list[tuple[Hashable, ...]]:
    """The n-grams of `ids` in order, overlapping; none when it is shorter than n."""
    return [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]


def repeated_ngrams(ids: Sequence[Hashable], n: int = 4) -> tuple[int, int]:
    """(n-grams of `ids` that repeat an n-gram occurring earlier in `ids`, n-grams of `ids`)."""
    if n < 1:
        raise ValueError(f"n={n}: an n-gram has at least one token")
    seen: set[tuple[Hashable, ...]] = set()
    repeated = 0
    grams = ngrams(ids, n)
    for gram in grams:
        repeated += gram in seen
        seen.add(gram)
    return repeated, len(grams)


def distinct_ngrams(sequences: Sequence[Sequence[Hashable]], n: int = 2) -> tuple[int, int]:
    """(distinct n-grams over all `sequences` together, n-grams over all of them): corpus-level
    distinct-n (Li et al. 2016)."""
    if n < 1:
        raise ValueError(f"n={n}: an n-gram has at least one token")
    grams = [gram for ids in sequences for gram in ngrams(ids, n)]
    return len(set(grams)), len(grams)


@dataclass(frozen=True)
class Fluency:
    """Counts over a variant's continuations, pooled: repeated 4-grams of all 4-grams, distinct
    bigrams of all bigrams, and how many continuations stand behind them."""

    repeated_4gram: int
    fourgrams: int
    distinct_2: int
    bigrams: int
    continuations: int

    @property
    def repeated_share(self) -> float:
        """Repeated 4-grams over all 4-grams, 0.0 when there are none."""
        return self.repeated_4gram / self.fourgrams if self.fourgrams else 0.0

    @property
    def distinct_share(self) -> float:
        """Distinct-2: distinct bigrams over all bigrams, 0.0 when there are none."""
        return self.distinct_2 / self.bigrams if self.bigrams else 0.0


def continuation_prompts(
    tokenizer: PreTrainedTokenizerBase,
    passages: Sequence[str],
    prompts: int = 32,
    prompt_tokens: int = 32,
) -> list[list[int]]:
    """The first `prompt_tokens` token ids (special tokens included) of each of the first
    `prompts` passages that have more than `prompt_tokens` tokens; fewer where fewer qualify."""
    if prompts < 1 or prompt_tokens < 1:
        raise FluencyInputError(
            f"prompts={prompts}, prompt_tokens={prompt_tokens}: both must be at least 1"
        )
    found: list[list[int]] = []
    for chunk in batches(passages, ENCODE_CHUNK):
        long_enough = [ids for ids in encode(tokenizer, chunk) if len(ids) > prompt_tokens]
        found.extend(ids[:prompt_tokens] for ids in long_enough)
        if len(found) >= prompts:
            break
    if not found:
        raise FluencyInputError(
            f"no general-text passage is longer than {prompt_tokens} tokens "
            f"({len(passages)} given): give longer passages or lower prompt_tokens"
        )
    return found[:prompts]


def fluency(
    backend: GenerationBackend, prompts: Sequence[Sequence[int]], new_tokens: int = 64
) -> Fluency:
    """Greedy continuations of `new_tokens` tokens (EOS ignored) through `backend`, and the
    repeated 4-gram counts over their token ids, the distinct-2 counts over their `words`."""
    if not prompts:
        raise FluencyInputError("no prompts to continue: give at least one general-text passage")
    params = SamplingParams(max_tokens=new_tokens, temperature=0.0, ignore_eos=True)
    done = generate_each(backend, prompts, [new_tokens] * len(prompts), params)
    counts = [repeated_ngrams(c.token_ids, 4) for c in done]
    distinct, bigrams = distinct_ngrams([words(c.text) for c in done], 2)
    return Fluency(
        repeated_4gram=sum(r for r, _ in counts),
        fourgrams=sum(t for _, t in counts),
        distinct_2=distinct,
        bigrams=bigrams,
        continuations=len(done),
    )


@dataclass(frozen=True)
class CollapseRule:
    """When a variant counts as collapsed (see the module's definitions)."""

    ppl_factor: float = 5.0
    max_repeated_share: float = 0.5
    min_distinct_share: float = 0.2


def collapse_reasons(
    ppl: float, before_ppl: float | None, measured: Fluency, rule: CollapseRule
) -> list[str]:
    """The collapse rules that hold, each as a short reason; empty: not collapsed. A perplexity
    that is not a number (NaN) counts as beyond the limit."""
    reasons: list[str] = []
    if before_ppl is not None and not ppl <= rule.ppl_factor * before_ppl:
        reasons.append(
            f"general perplexity {ppl:.1f} > {rule.ppl_factor:g}x "
            f"the before variant's {before_ppl:.1f}"
        )
    if measured.fourgrams and measured.repeated_share > rule.max_repeated_share:
        reasons.append(
            f"repeated 4-gram share {measured.repeated_share:.2f} > {rule.max_repeated_share:g}"
        )
    if measured.bigrams and measured.distinct_share < rule.min_distinct_share:
        reasons.append(f"distinct-2 {measured.distinct_share:.2f} < {rule.min_distinct_share:g}")
    return reasons
