"""Controlled memorization: train a model so that item i is seen exactly `repetitions[i]` times.

Exposures are counted by the sampler: the training stream is the multiset {i repeated r_i times},
ordered once with the world's seed and cut into batches; one pass over it is the whole training.
An item's exposures are spread evenly over the pass (at (k + u_i) / r_i, k < r_i, u_i uniform), so
that an item seen r times is seen every 1/r of training rather than in a random clump.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers import PreTrainedModel

from forgetflow.lm import pad_right, target_logprobs

REPETITION_CYCLE = (1, 2, 4, 8, 16, 32)


def cycle_repetitions(count: int, cycle: Sequence[int] = REPETITION_CYCLE) -> list[int]:
    """r for `count` items, cycling through the buckets so each bucket gets a share."""
    return [cycle[i % len(cycle)] for i in range(count)]


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


def train_on_schedule(
    model: PreTrainedModel,
    sequences: Sequence[Sequence[int]],
    schedule: Sequence[int],
    pad_id: int,
    batch_size: int,
    lr: float,
    progress: Callable[[int, int, float], None] | None = None,
) -> int:
    """One pass over `schedule` with AdamW (see `lr_factor`); returns the number of steps.

    The loss is the mean over the batch of each sequence's mean token NLL: every exposure weighs
    the same, whether the item is a long record or a short answer.
    """
    steps = (len(schedule) + batch_size - 1) // batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps))
    model.train()
    for step in range(steps):
        picked = schedule[step * batch_size : (step + 1) * batch_size]
        logprobs, _, valid = target_logprobs(
            model, pad_right([sequences[i] for i in picked], pad_id)
        )
        loss = (-(logprobs * valid).sum(1) / valid.sum(1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
        if progress is not None:
            progress(step + 1, steps, loss.item())
    model.eval()
    return steps
