from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.lm.tokens import encode
from forgetflow.memorization.el import (
    el_from_divergences,
    el_naive,
    el_scores,
    greedy_continuation,
    suffix_overlap,
)

WINDOW = 36  # tokens kept of each profile: the naive reference decodes ~WINDOW^2/2 steps each
CONFIGS = [(10, 1), (3, 1), (3, 20)]  # (n, start): Jang et al.'s EL_10, a small n, the ICU variant


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """The naive reference is thousands of one-token forwards: intra-op threads only add waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def profiles(world, split: str, repetitions: set[int], count: int) -> list[str]:
    rows = pq.read_table(world.splits[split]).to_pylist()
    return [r["text"] for r in rows if r["repetitions"] in repetitions][:count]


@pytest.fixture()
def sequences(tiny_world, tiny_model) -> list[list[int]]:
    """Memorized (32/16 repetitions) and non-member profiles, cut to WINDOW tokens (BOS first)."""
    _, tokenizer = tiny_model
    texts = profiles(tiny_world, "forget", {32, 16}, 6) + profiles(tiny_world, "holdout", {0}, 6)
    return [ids[:WINDOW] for ids in encode(tokenizer, texts)]


def definition_el(continuations: dict[int, list[int]], ids: Sequence[int], n: int, start: int):
    """EL_n by the definition from given greedy continuations of each prefix length."""
    overlaps = [
        suffix_overlap(continuations[t], ids[t:], n) for t in range(start, len(ids) - n + 1)
    ]
    return sum(overlaps) / len(overlaps)


def test_el_scores_equals_the_naive_reference(tiny_model, sequences) -> None:
    model, _ = tiny_model
    smallest_n = min(n for n, _ in CONFIGS)
    with torch.no_grad():  # one greedy continuation per prefix, shared by every (n, start)
        greedy = [
            {t: greedy_continuation(model, ids[:t], len(ids) - t)
             for t in range(1, len(ids) - smallest_n + 1)}
            for ids in sequences
        ]  # fmt: skip
    mismatches, compared = [], 0
    for n, start in CONFIGS:
        fast = el_scores(model, sequences, n=n, start=start, batch_size=5)
        for index, (ids, value) in enumerate(zip(sequences, fast, strict=True)):
            reference = definition_el(greedy[index], ids, n, start)
            compared += 1
            if value != reference:
                mismatches.append((n, start, index, value, reference, value - reference))
    assert len(mismatches) <= 0.01 * compared, (
        f"fast != naive (n, start, sample, diff): {mismatches}"
    )
    memorized = el_scores(model, sequences[:6], n=10)
    holdout = el_scores(model, sequences[6:], n=10)
    assert min(memorized) > max(holdout)  # the samples span both regimes


def test_el_naive_is_the_definition(tiny_model, sequences) -> None:
    model, _ = tiny_model
    ids = sequences[-1][:24]
    with torch.no_grad():
        greedy = {t: greedy_continuation(model, ids[:t], len(ids) - t) for t in range(1, len(ids))}
    for n, start in [(3, 1), (2, 5)]:
        assert el_naive(model, ids, n, start) == definition_el(greedy, ids, n, start)
    assert el_scores(model, [ids], n=3) == [el_naive(model, ids, 3)]


def test_a_text_the_model_reproduces_scores_one(tiny_model) -> None:
    model, tokenizer = tiny_model
    with torch.no_grad():
        ids = [tokenizer.bos_token_id] + greedy_continuation(model, [tokenizer.bos_token_id], 29)
    assert el_naive(model, ids, 5) == 1.0
    assert el_scores(model, [ids], n=5) == [1.0]


def test_suffix_overlap_counts_continuation_ngrams_in_the_suffix_set() -> None:
    # bigrams 12, 23, 31, 12 of the continuation; 3 of them in {12, 23, 34, 45}, of 4
    assert suffix_overlap([1, 2, 3, 1, 2], [1, 2, 3, 4, 5], 2) == 0.75
    assert suffix_overlap([9, 9, 9], [9, 9, 9], 2) == 1.0


def rule_continuations(rule: Callable[[list[int]], int], ids: list[int]) -> dict[int, list[int]]:
    """Greedy continuation of every prefix length under a next-token rule."""
    out = {}
    for t in range(1, len(ids)):
        context = list(ids[:t])
        for _ in range(len(ids) - t):
            context.append(rule(context))
        out[t] = context[t:]
    return out


def test_divergence_assembly_by_hand() -> None:
    # rule: next token = last + 1, except after 6 (repeats 6); x = 0 5 6 7 8 9, n = 2
    ids = [0, 5, 6, 7, 8, 9]
    greedy = rule_continuations(lambda c: 6 if c[-1] == 6 else c[-1] + 1, ids)
    assert greedy[1] == [1, 2, 3, 4, 5] and greedy[3] == [6, 6, 6] and greedy[4] == [8, 9]
    # overlaps: t=1 0/4, t=2 0/3, t=3 0/2, t=4 1/1; divergence points 1 and 3
    assert el_from_divergences(ids, {1: greedy[1], 3: greedy[3]}, 2, 1) == 0.25


@pytest.mark.parametrize("seed", range(40))
def test_divergence_assembly_equals_the_definition(seed: int) -> None:
    rng = random.Random(seed)
    vocab = rng.randint(2, 4)
    table = {(a, b): rng.randrange(vocab) for a in range(vocab) for b in range(vocab)}
    rule = lambda c: table[(c[-2] if len(c) > 1 else 0, c[-1])]  # noqa: E731
    ids = [0]
    while len(ids) < rng.randint(5, 16):  # mostly the rule's text, sometimes off it
        ids.append(rule(ids) if rng.random() < 0.7 else rng.randrange(vocab))
    n = rng.randint(1, len(ids) - 1)
    start = rng.randint(1, len(ids) - n)
    greedy = rule_continuations(rule, ids)
    points = {d: greedy[d] for d in range(start, len(ids)) if greedy[d][0] != ids[d]}
    expected = definition_el(greedy, ids, n, start)
    assert el_from_divergences(ids, points, n, start) == pytest.approx(expected, abs=1e-12)


def test_short_sequences_and_bad_starts_raise(tiny_model) -> None:
    model, _ = tiny_model
    with pytest.raises(ValueError, match="sequence 1 has 10 tokens"):
        el_scores(model, [list(range(20)), list(range(10))], n=10)
    with pytest.raises(ValueError, match="needs at least 11"):
        el_naive(model, list(range(10)), 10)
    with pytest.raises(ValueError, match="start=12"):
        el_scores(model, [list(range(20))], n=10, start=12)


def test_batching_order_and_budget_do_not_change_scores(tiny_model, sequences) -> None:
    model, _ = tiny_model
    mixed = [ids[: 20 + 2 * i] for i, ids in enumerate(sequences)]  # lengths differ: padding
    one = el_scores(model, mixed, n=4, start=2, batch_size=1)
    together = el_scores(model, mixed, n=4, start=2, batch_size=len(mixed))
    reversed_ = el_scores(model, mixed[::-1], n=4, start=2, batch_size=3)[::-1]
    windowed = el_scores(model, mixed, n=4, start=2, batch_size=4, token_budget=16)
    assert one == together == reversed_ == windowed
