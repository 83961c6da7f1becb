"""Controlled memorization: train a model so that item i is seen exactly `repetitions[i]` times.

Exposures are counted by the sampler: the training stream is the multiset {i repeated r_i times},
shuffled once with the world's seed and cut into batches; one pass over it is the whole training.
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


def exposure_schedule(repetitions: Sequence[int], seed: int) -> list[int]:
    """Item indices, each repeated its number of times, in one seeded shuffled order."""
    stream = torch.tensor([i for i, r in enumerate(repetitions) for _ in range(r)])
    order = torch.randperm(len(stream), generator=torch.Generator().manual_seed(seed))
    return stream[order].tolist()


def train_on_schedule(
    model: PreTrainedModel,
    sequences: Sequence[Sequence[int]],
    schedule: Sequence[int],
    pad_id: int,
    batch_size: int,
    lr: float,
    progress: Callable[[int, int, float], None] | None = None,
) -> int:
    """One pass over `schedule` with AdamW and linear decay; returns the number of steps."""
    steps = (len(schedule) + batch_size - 1) // batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - 0.9 * s / steps)
    model.train()
    for step in range(steps):
        picked = schedule[step * batch_size : (step + 1) * batch_size]
        logprobs, _, valid = target_logprobs(
            model, pad_right([sequences[i] for i in picked], pad_id)
        )
        loss = -(logprobs * valid).sum() / valid.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
        if progress is not None:
            progress(step + 1, steps, loss.item())
    model.eval()
    return steps
