"""Fluency guards: n-gram counts against naive formulas, the collapse rules, the tiny model."""

from __future__ import annotations

import random
import re

import pytest

from forgetflow.generation.base import SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.tokens import encode
from forgetflow.utility.fluency import (
    CollapseRule,
    Fluency,
    FluencyInputError,
    collapse_reasons,
    continuation_prompts,
    distinct_ngrams,
    fluency,
    repeated_ngrams,
    words,
)


def naive_repeated(ids: list[int], n: int) -> tuple[int, int]:
    """Each n-gram compared with every n-gram starting before it."""
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    repeated = sum(any(grams[j] == grams[i] for j in range(i)) for i in range(len(grams)))
    return repeated, len(grams)


def naive_distinct(sequences: list[list[int]], n: int) -> tuple[int, int]:
    grams = [tuple(s[i : i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)), len(grams)


def test_words_are_runs_of_non_whitespace_and_line_breaks() -> None:
    assert words("a  b,c\n\n d ") == ["a", "b,c", "\n", "\n", "d"]
    looping = words("\n" * 10)  # a model looping on blank lines repeats
    assert repeated_ngrams(looping) == (6, 7)


def test_a_sequence_repeating_one_4gram() -> None:
    ids = [1, 2, 3, 4] * 3  # 9 4-grams; from index 4 on each repeats the one 4 before it
    assert repeated_ngrams(ids) == naive_repeated(ids, 4) == (5, 9)
    same = [7] * 10  # 7 equal 4-grams: all but the first repeat
    assert repeated_ngrams(same) == naive_repeated(same, 4) == (6, 7)


def test_all_distinct_and_short_sequences() -> None:
    assert repeated_ngrams(list(range(10))) == (0, 7)
    assert repeated_ngrams([1, 2, 3]) == (0, 0)
    assert repeated_ngrams([]) == (0, 0)
    assert distinct_ngrams([list(range(10))]) == (9, 9)
    assert distinct_ngrams([[5], []]) == (0, 0)


def test_a_repeat_across_sequences_counts_for_distinct_n_only() -> None:
    sequences = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]
    assert [repeated_ngrams(s) for s in sequences] == [(0, 2), (0, 2)]
    assert distinct_ngrams(sequences, 4) == naive_distinct(sequences, 4) == (2, 4)
    assert distinct_ngrams(sequences, 2) == naive_distinct(sequences, 2) == (4, 8)


def test_counts_equal_the_naive_formulas_on_random_sequences() -> None:
    rng = random.Random(0)
    sequences = [[rng.randrange(4) for _ in range(rng.randrange(0, 30))] for _ in range(20)]
    for n in (1, 2, 3, 4):
        assert distinct_ngrams(sequences, n) == naive_distinct(sequences, n)
        for ids in sequences:
            assert repeated_ngrams(ids, n) == naive_repeated(ids, n)


def test_shares_are_zero_over_no_ngrams() -> None:
    empty = Fluency(0, 0, 0, 0, 0)
    assert empty.repeated_share == 0.0 and empty.distinct_share == 0.0
    measured = Fluency(repeated_4gram=3, fourgrams=12, distinct_2=5, bigrams=20, continuations=2)
    assert measured.repeated_share == 0.25 and measured.distinct_share == 0.25


HEALTHY = Fluency(repeated_4gram=0, fourgrams=100, distinct_2=90, bigrams=100, continuations=4)
RULE = CollapseRule()


def test_no_rule_fires_on_a_healthy_variant() -> None:
    assert collapse_reasons(10.0, 10.0, HEALTHY, RULE) == []
    assert collapse_reasons(1000.0, None, HEALTHY, RULE) == []  # no before: ppl not checked
    assert collapse_reasons(10.0, 10.0, Fluency(0, 0, 0, 0, 1), RULE) == []  # nothing measured


def test_each_rule_fires_alone() -> None:
    ppl = collapse_reasons(812.3, 41.2, HEALTHY, RULE)
    assert ppl == ["general perplexity 812.3 > 5x the before variant's 41.2"]
    looping = Fluency(repeated_4gram=71, fourgrams=100, distinct_2=90, bigrams=100, continuations=4)
    assert collapse_reasons(10.0, 10.0, looping, RULE) == ["repeated 4-gram share 0.71 > 0.5"]
    dull = Fluency(repeated_4gram=0, fourgrams=100, distinct_2=8, bigrams=100, continuations=4)
    assert collapse_reasons(10.0, 10.0, dull, RULE) == ["distinct-2 0.08 < 0.2"]
    assert len(collapse_reasons(float("nan"), 10.0, HEALTHY, RULE)) == 1


def background_texts(tiny_world) -> list[str]:
    rows = tiny_world.table("items").to_pylist()
    return [r["text"] for r in rows if r["split"] == "background_eval"]


def test_prompts_are_the_first_long_enough_passages_cut(tiny_world, tiny_model) -> None:
    _, tokenizer = tiny_model
    passages = ["short", *background_texts(tiny_world)]
    prompts = continuation_prompts(tokenizer, passages, prompts=5, prompt_tokens=16)
    expected = [ids[:16] for ids in encode(tokenizer, passages) if len(ids) > 16][:5]
    assert len(prompts) == 5 and prompts == expected
    assert all(len(p) == 16 for p in prompts)
    assert prompts[0][0] == encode(tokenizer, ["short"])[0][0]  # the special token is kept


def test_fewer_prompts_where_fewer_passages_qualify(tiny_world, tiny_model) -> None:
    _, tokenizer = tiny_model
    passages = background_texts(tiny_world)[:2] + ["short"]
    assert len(continuation_prompts(tokenizer, passages, prompts=32, prompt_tokens=8)) == 2


def test_no_passage_long_enough_is_an_error(tiny_model) -> None:
    _, tokenizer = tiny_model
    with pytest.raises(FluencyInputError, match="no general-text passage is longer than 32"):
        continuation_prompts(tokenizer, ["a b", "c"], prompt_tokens=32)


def test_fluency_counts_the_backends_greedy_continuations(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer)
    prompts = continuation_prompts(tokenizer, background_texts(tiny_world), 4, 16)
    measured = fluency(backend, prompts, new_tokens=24)
    params = SamplingParams(max_tokens=24, temperature=0.0, ignore_eos=True)
    done = backend.generate(prompts, params)
    assert [len(c.token_ids) for c in done] == [24] * 4
    counts = [naive_repeated(list(c.token_ids), 4) for c in done]  # repeats: token ids
    assert (measured.repeated_4gram, measured.fourgrams) == (sum(r for r, _ in counts), 4 * 21)
    words = [re.findall(r"\S+|\n", c.text) for c in done]  # distinct-2: words, line breaks
    assert (measured.distinct_2, measured.bigrams) == naive_distinct(words, 2)
    assert measured.bigrams == sum(max(len(w) - 1, 0) for w in words) > 0
    assert measured.continuations == 4
    with pytest.raises(FluencyInputError, match="no prompts"):
        fluency(backend, [], new_tokens=24)
