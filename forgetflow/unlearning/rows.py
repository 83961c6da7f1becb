"""The rows the unlearning loop draws from: encoded once (a QA row scores its answer only), drawn
in seeded shuffles whose position is checkpointed, and split across micro-batches and processes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.memorization.windows import tokenize_samples
from forgetflow.records import Sample


class Cycler:
    """Endless seeded shuffles of `count` indices, `size` at a time; its state is checkpointed."""

    def __init__(self, count: int, size: int, seed: int) -> None:
        self.count, self.size = count, min(size, count)
        self.rng = torch.Generator().manual_seed(seed)
        self.queue: list[int] = []

    def next(self) -> list[int]:
        while len(self.queue) < self.size:
            self.queue += torch.randperm(self.count, generator=self.rng).tolist()
        picked, self.queue = self.queue[: self.size], self.queue[self.size :]
        return picked

    def state(self) -> dict:
        return {"rng": self.rng.get_state(), "queue": list(self.queue)}

    def load(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
        self.queue = list(state["queue"])


def split(items: Sequence[int], parts: int) -> list[list[int]]:
    """`items` in `parts` consecutive pieces whose sizes differ by at most one."""
    size, extra = divmod(len(items), parts)
    out, begin = [], 0
    for part in range(parts):
        end = begin + size + (1 if part < extra else 0)
        out.append(list(items[begin:end]))
        begin = end
    return out


@dataclass
class Rows:
    """The encoded rows of every set the loop draws from; `*_starts[i]` is the index of row i's
    first scored token (1 for a text, the answer's first token for a QA row)."""

    forget_ids: list[str]
    forget: list[list[int]]
    forget_starts: list[int]
    retain: list[list[int]]
    retain_starts: list[int]
    twins: dict[int, list[int]]
    preferred: list[list[int]] = field(default_factory=list)
    preferred_starts: list[int] = field(default_factory=list)


def tokenized(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> tuple[list[list[int]], list[int]]:
    """Token ids and first scored index of each sample (a QA row scores its answer only)."""
    items = tokenize_samples(tokenizer, samples) if samples else []
    return [list(i.ids) for i in items], [i.start for i in items]


def preferred_samples(forget: Sequence[Sample], texts: Sequence[str]) -> list[Sample]:
    """The preferred texts as samples: after a QA row's question, only the answer counts."""
    out = []
    for sample, text in zip(forget, texts, strict=True):
        prompt = sample.prompt
        if prompt and text.startswith(prompt) and len(text) > len(prompt):
            out.append(Sample(sample.sample_id, "forget", text[len(prompt) :], prompt=prompt))
        else:
            out.append(Sample(sample.sample_id, "forget", text))
    return out
