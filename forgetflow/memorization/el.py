"""Extraction likelihood EL_n (Jang et al. 2022): a naive reference and a fast exact version.

For a token sequence x_0..x_{T-1} (x_0 is the tokenizer's BOS) and a prefix length t, the model
greedily continues x_<t for T-t tokens (EOS is not special); the overlap of prefix t is the number
of the continuation's n-grams (with multiplicity) found in the set of n-grams of the true suffix
x_t..x_{T-1}, over that suffix's n-gram count T-t-n+1. EL_n averages the overlap over the prefix
lengths t = start..T-n (start=1: Jang et al.; a later start: the ICU variant).

The fast version rests on one fact: when the teacher-forced argmax at position t-1 is x_t, the
greedy continuation of prefix t is x_t followed by the continuation of prefix t+1. So generation is
needed only from divergence points (prefix lengths whose teacher-forced argmax is not the true
token); any other prefix's continuation is the true tokens up to the next divergence point followed
by that point's continuation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache, PreTrainedModel

from forgetflow.lm.tokens import batches, pad_right

# Positions x vocabulary of full logits held at once when no token budget is given (256 MiB fp32).
LOGIT_ELEMENTS = 1 << 26


class ELInputError(ValueError):
    """A sequence cannot be scored with these settings (too short, or `start` out of range)."""


@dataclass(frozen=True)
class Job:
    """One greedy generation from a divergence point: `steps` decode steps after `first`."""

    row: int  # the sequence's index in its chunk
    prefix: int  # the divergence point d: the continuation follows x_<d
    first: int  # the teacher-forced argmax at d-1, the continuation's first token
    steps: int  # T-d-1: the continuation has T-d tokens


@contextmanager
def eval_mode(model: PreTrainedModel) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def check_sequence(ids: Sequence[int], n: int, start: int, index: int = 0) -> None:
    if n < 1:
        raise ELInputError(f"n must be at least 1, got {n}")
    if len(ids) < n + 1:
        raise ELInputError(
            f"sequence {index} has {len(ids)} tokens; EL_{n} needs at least {n + 1} (n+1)"
        )
    if not 1 <= start <= len(ids) - n:
        raise ELInputError(
            f"start={start} is outside 1..{len(ids) - n} (T-n) for sequence {index} "
            f"of {len(ids)} tokens"
        )


def ngrams(tokens: Sequence[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def suffix_overlap(continuation: Sequence[int], suffix: Sequence[int], n: int) -> float:
    """Share of the continuation's n-grams found among the true suffix's n-grams."""
    true = set(ngrams(suffix, n))
    found = sum(1 for gram in ngrams(continuation, n) if gram in true)
    return found / (len(suffix) - n + 1)


def greedy_continuation(model: PreTrainedModel, prefix: Sequence[int], length: int) -> list[int]:
    """`length` greedy tokens after `prefix`, one decode step at a time with a KV cache."""
    ids = torch.tensor([list(prefix)], device=model.device)
    out = model(input_ids=ids, use_cache=True)
    tokens = [int(out.logits[0, -1].argmax())]
    while len(tokens) < length:
        step = torch.tensor([[tokens[-1]]], device=model.device)
        out = model(input_ids=step, past_key_values=out.past_key_values, use_cache=True)
        tokens.append(int(out.logits[0, -1].argmax()))
    return tokens


def el_naive(model: PreTrainedModel, ids: Sequence[int], n: int, start: int = 1) -> float:
    """EL_n by its definition: one greedy continuation per prefix length."""
    check_sequence(ids, n, start)
    total = 0.0
    with eval_mode(model):
        for t in range(start, len(ids) - n + 1):
            continuation = greedy_continuation(model, ids[:t], len(ids) - t)
            total += suffix_overlap(continuation, ids[t:], n)
    return total / (len(ids) - n - start + 1)


def el_scores(
    model: PreTrainedModel,
    sequences: Sequence[Sequence[int]],
    n: int = 10,
    start: int = 1,
    batch_size: int = 128,
    token_budget: int | None = None,
) -> list[float]:
    """EL_n of each sequence, equal to `el_naive` (up to float near-ties), generating only from
    divergence points.

    `batch_size` caps the rows of every forward pass: the sequences whose prefix caches are held
    together, and the divergence points decoded together. `token_budget` caps the positions whose
    full-vocabulary logits one teacher-forced forward computes (default: 2**26 / vocabulary).
    """
    for index, ids in enumerate(sequences):
        check_sequence(ids, n, start, index)
    budget = token_budget or max(1, LOGIT_ELEMENTS // model.config.get_text_config().vocab_size)
    scores: list[float] = []
    with eval_mode(model):
        for chunk in batches(sequences, batch_size):
            argmax, cache = teacher_forced(model, chunk, budget)
            jobs = divergence_jobs(chunk, argmax, n, start)
            continuations = decode_jobs(model, cache, jobs, len(chunk), batch_size)
            del cache
            for row, ids in enumerate(chunk):
                scores.append(el_from_divergences(ids, continuations[row], n, start))
    return scores


def teacher_forced(
    model: PreTrainedModel, chunk: Sequence[Sequence[int]], budget: int
) -> tuple[list[list[int]], DynamicCache]:
    """Argmax at every position (row r, position p predicts x_{p+1}) and the KV cache of the
    right-padded chunk, computed in time windows of at most `budget` positions in all."""
    batch = pad_right(chunk, 0)
    ids = batch.input_ids.to(model.device)  # (B, W)
    mask = batch.attention_mask.to(model.device)
    width = max(1, budget // len(chunk))
    cache = DynamicCache(config=model.config)
    argmax = []
    for lo in range(0, ids.shape[1], width):
        hi = min(lo + width, ids.shape[1])
        logits = model(
            input_ids=ids[:, lo:hi],
            attention_mask=mask[:, :hi],
            past_key_values=cache,
            use_cache=True,
        ).logits  # (B, hi-lo, V)
        argmax.append(logits.argmax(dim=-1))
        del logits
    return torch.cat(argmax, dim=1).tolist(), cache


def divergence_jobs(
    chunk: Sequence[Sequence[int]], argmax: list[list[int]], n: int, start: int
) -> list[Job]:
    """The generations EL needs: every divergence point d in start..T-n, and the first one after
    T-n (the continuations of the last prefixes end in it); the longest first."""
    jobs = []
    for row, ids in enumerate(chunk):
        last = len(ids) - n
        for d in range(start, len(ids)):
            if argmax[row][d - 1] != ids[d]:
                jobs.append(Job(row, d, argmax[row][d - 1], len(ids) - d - 1))
                if d > last:
                    break
    return sorted(jobs, key=lambda job: (-job.steps, job.row, job.prefix))


def decode_jobs(
    model: PreTrainedModel, cache: DynamicCache, jobs: Sequence[Job], rows: int, batch_size: int
) -> list[dict[int, list[int]]]:
    """Each job's continuation (T-d tokens), by row and divergence point."""
    continuations: list[dict[int, list[int]]] = [{} for _ in range(rows)]
    for group in batches(jobs, batch_size):
        for job, tokens in zip(group, decode_group(model, cache, group), strict=True):
            continuations[job.row][job.prefix] = tokens
    return continuations


def gathered_cache(
    model: PreTrainedModel, cache: DynamicCache, group: Sequence[Job], width: int
) -> DynamicCache:
    """Each job's prefix cache x_<d, left-padded to `width` positions."""
    device = model.device
    prefixes = torch.tensor([job.prefix for job in group], device=device)  # (R,)
    slots = torch.arange(width, device=device)  # (W,)
    positions = (slots[None, :] - (width - prefixes)[:, None]).clamp(min=0)  # (R, W)
    sources = torch.tensor([job.row for job in group], device=device)[:, None]  # (R, 1)
    layers = []
    for layer in cache.layers:
        keys = layer.keys[sources, :, positions].transpose(1, 2).contiguous()  # (R, H, W, D)
        values = layer.values[sources, :, positions].transpose(1, 2).contiguous()
        layers.append((keys, values))
    return DynamicCache(layers, config=model.config)


def decode_group(
    model: PreTrainedModel, cache: DynamicCache, group: Sequence[Job]
) -> list[list[int]]:
    """Greedy continuations of a group sorted by steps (longest first), all rows decoded together
    and each row dropped once its continuation is complete."""
    device = model.device
    width = max(job.prefix for job in group)
    longest = group[0].steps
    steps = [job.steps for job in group]
    prefixes = torch.tensor([job.prefix for job in group], device=device)  # (R,)
    tokens = torch.zeros((len(group), longest + 1), dtype=torch.long, device=device)  # (R, L+1)
    tokens[:, 0] = torch.tensor([job.first for job in group], device=device)
    mask = torch.ones((len(group), width + longest), dtype=torch.long, device=device)
    mask[:, :width] = torch.arange(width, device=device)[None, :] >= (width - prefixes)[:, None]
    past = gathered_cache(model, cache, group, width) if longest else None
    active = len(group)
    for k in range(longest):
        while steps[active - 1] <= k:
            active -= 1
        if past is not None and past.layers[0].keys.shape[0] > active:
            crop_rows(past, active)
        out = model(
            input_ids=tokens[:active, k : k + 1], attention_mask=mask[:active, : width + k + 1],
            position_ids=(prefixes[:active] + k)[:, None], past_key_values=past, use_cache=True,
        )  # fmt: skip
        tokens[:active, k + 1] = out.logits[:, -1].argmax(dim=-1)
    listed = tokens.tolist()
    return [listed[r][: job.steps + 1] for r, job in enumerate(group)]


def crop_rows(cache: DynamicCache, rows: int) -> None:
    """Keep the first `rows` rows of every layer (a view: the next append copies anyway)."""
    for layer in cache.layers:
        layer.keys = layer.keys[:rows]
        layer.values = layer.values[:rows]


def el_from_divergences(
    ids: Sequence[int], continuations: dict[int, list[int]], n: int, start: int
) -> float:
    """EL_n from the continuations at divergence points.

    For prefix t with next divergence point d (T when none), the continuation is x_t..x_{d-1}
    followed by c_d: its n-grams inside x_t..x_{d-1} are true suffix n-grams; the others are the
    n-grams of v = x_<d + c_d starting at p >= max(t, d-n+1), and one of them is in the suffix's
    set iff its last start in x is >= t.
    """
    size = len(ids)
    last = {gram: i for i, gram in enumerate(ngrams(ids, n))}  # n-gram -> its last start in x
    points = sorted(continuations)
    overlaps = []  # from t = T-n down to start
    after = size  # next divergence point >= t
    lasts = np.empty(0, dtype=np.int64)  # last start in x of v's n-grams from `base` on
    base = size
    for t in range(size - n, start - 1, -1):
        if points and points[-1] >= t:
            while points and points[-1] >= t:
                after = points.pop()
            virtual = list(ids[:after]) + continuations[after]
            base = max(0, after - n + 1)
            grams = ngrams(virtual[base:], n)
            lasts = np.array([last.get(gram, -1) for gram in grams], dtype=np.int64)
        inside = max(0, after - t - n + 1)
        found = int(np.count_nonzero(lasts[max(t, base) - base :] >= t))
        overlaps.append((inside + found) / (size - t - n + 1))
    return sum(reversed(overlaps)) / len(overlaps)  # summed in el_naive's order: equal bits
