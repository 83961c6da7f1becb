"""Controlled memorization: train a model so that item i is seen exactly `repetitions[i]` times.

Exposures are counted by the sampler: the training stream is the multiset {i repeated r_i times},
ordered once with the world's seed and cut into batches; one pass over it is the whole training.
An item's exposures are spread evenly over the pass (at (k + u_i) / r_i, k < r_i, u_i uniform), so
that an item seen r times is seen every 1/r of training rather than in a random clump.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import target_logprobs
from forgetflow.lm.tokens import pad_right

REPETITION_CYCLE = (1, 2, 4, 8, 16, 32)


def cycle_repetitions(count: int, cycle: Sequence[int] = REPETITION_CYCLE) -> list[int]:
    """r for `count` items, cycling through the buckets so each bucket gets a share."""
    return [cycle[i % len(cycle)] for i in range(count)]


def rotate_wordings(schedule: Sequence[int], wordings: Sequence[int]) -> list[int]:
    """An item schedule as a schedule of wordings, numbered item by item (item 0's wordings
    first): the k-th exposure of item i trains on its wording k mod wordings[i]."""
    first = list(itertools.accumulate(wordings[:-1], initial=0))
    seen = [0] * len(wordings)
    out = []
    for i in schedule:
        out.append(first[i] + seen[i] % wordings[i])
        seen[i] += 1
    return out


WARMUP_SHARE = 0.05  # of the steps, with a linear warmup
FINAL_LR_SHARE = 0.1  # the learning rate decays linearly to this share of its peak


def exposure_schedule(repetitions: Sequence[int], seed: int) -> list[int]:
    """Item indices, each repeated its number of times, evenly spaced, with seeded offsets."""
    offsets = torch.rand(len(repetitions), generator=torch.Generator().manual_seed(seed)).tolist()
    keyed = [((k + offsets[i]) / r, i) for i, r in enumerate(repetitions) for k in range(r)]
    return [i for _, i in sorted(keyed)]


def lr_factor(step: int, steps: int) -> float:
    """Linear warmup over WARMUP_SHARE of the steps, then linear decay to FINAL_LR_SHARE."""
    warmup = max(1, int(WARMUP_SHARE * steps))
    if step < warmup:
        return (step + 1) / warmup
    return 1.0 - (1.0 - FINAL_LR_SHARE) * (step - warmup) / max(1, steps - warmup)


MAX_GRAD_NORM = 1.0
GROUP_BATCHES = 8  # batches formed together from one window of the schedule


def length_grouped_batches(
    schedule: Sequence[int], lengths: Sequence[int], batch_size: int
) -> list[list[int]]:
    """Cut `schedule` into batches; within each window of GROUP_BATCHES batches, items of similar
    length go together (less padding), so an exposure moves by less than one window."""
    window = batch_size * GROUP_BATCHES
    batches = []
    for start in range(0, len(schedule), window):
        chunk = sorted(schedule[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    return batches


def train_on_schedule(
    model: PreTrainedModel,
    sequences: Sequence[Sequence[int]],
    batches: Sequence[Sequence[int]],
    pad_id: int,
    lr: float,
    progress: Callable[[int, int, float], None] | None = None,
    desc: str = "train",
) -> int:
    """One pass over `batches` (of item indices) with AdamW (see `lr_factor`); returns the steps.
    `progress` gets (step, steps, loss) after each step; without it a bar named `desc` shows.

    Every token weighs the same over the pass: a batch's loss is its summed token NLL over
    (batch size x the pass's mean sequence length), so batches of long records (grouped by
    length) are not scaled down to the weight of batches of short answers. Gradients are clipped
    at norm MAX_GRAD_NORM.
    """
    steps = len(batches)
    exposures = [i for batch in batches for i in batch]
    mean_length = sum(len(sequences[i]) for i in exposures) / len(exposures)
    # torch's fused AdamW, as the unlearning loop's: one pass over all tensors per step
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps))
    model.train()
    bar = tqdm(total=steps, desc=desc, disable=progress is not None, mininterval=1.0)
    for step, picked in enumerate(batches):
        logprobs, _, valid = target_logprobs(
            model, pad_right([sequences[i] for i in picked], pad_id)
        )
        loss = -(logprobs * valid).sum() / (len(picked) * mean_length)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM, foreach=True)
        optimizer.step()
        decay.step()
        if progress is not None:
            progress(step + 1, steps, loss.item())
        bar.update()
    bar.close()
    model.eval()
    return steps
