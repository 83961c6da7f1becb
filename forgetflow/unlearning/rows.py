"""The rows the unlearning loop draws from (RowSets): encoded once (a QA row scores its answer
only), drawn in seeded shuffles whose position is checkpointed, and split across micro-batches
and processes.

Besides forget and retain, a run has named auxiliary sets (anti-samples, analogous samples...),
each tied to the forget samples: every row's `source_id` names a forget sample, which may own any
number of rows (none, one, or many anti-samples). A step's batch holds every row of each set that
belongs to its forget samples, in the order the set lists them: a forget sample with three
anti-samples brings all three, each time it is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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


class RowSetError(ValueError):
    """An auxiliary row set does not tie its rows to the forget samples."""


@dataclass(frozen=True)
class RowSet:
    """The encoded rows of one set: token ids, the index of each row's first scored token (1 for a
    text, the answer's first token for a QA row) and, for a set tied to the forget samples, the
    forget index each row belongs to (`owners`, from the rows' `source_id`)."""

    ids: list[list[int]]
    starts: list[int]
    owners: list[int] | None = None
    by_owner: dict[int, list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[int, list[int]] = {}
        for row, owner in enumerate(self.owners or ()):
            grouped.setdefault(owner, []).append(row)
        object.__setattr__(self, "by_owner", grouped)

    def __len__(self) -> int:
        return len(self.ids)

    def of(self, forget: Sequence[int]) -> list[int]:
        """The rows that belong to forget rows `forget`, in that order (each one's in set order)."""
        return [row for index in forget for row in self.by_owner.get(index, ())]

    def payload(self) -> list[Any]:
        """What a checkpoint's fingerprint hashes of this set."""
        return [self.ids, self.starts, self.owners]


@dataclass(frozen=True)
class RowSets:
    """Every set a run draws from: forget, retain, the named auxiliary sets tied to the forget
    samples, and a method's preferred rows (one per forget row, e.g. IdkDPO's refusals); and the
    utility guard's rows (general text's guard half), which no method descends on."""

    forget_ids: list[str]
    forget: RowSet
    retain: RowSet
    auxiliary: dict[str, RowSet] = field(default_factory=dict)
    preferred: RowSet | None = None
    guard: RowSet | None = None

    def payload(self) -> dict[str, Any]:
        """What a checkpoint's fingerprint hashes of the row sets."""
        return {
            "forget_ids": self.forget_ids, "forget": self.forget.payload(),
            "retain": self.retain.payload(),
            "auxiliary": {name: rows.payload() for name, rows in self.auxiliary.items()},
            "preferred": self.preferred.payload() if self.preferred is not None else None,
            "guard": self.guard.payload() if self.guard is not None else None,
        }  # fmt: skip


def tokenized(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> tuple[list[list[int]], list[int]]:
    """Token ids and first scored index of each sample (a QA row scores its answer only)."""
    items = tokenize_samples(tokenizer, samples) if samples else []
    return [list(i.ids) for i in items], [i.start for i in items]


def preferred_samples(forget: Sequence[Sample], texts: Sequence[str]) -> list[Sample]:
    """The preferred texts as samples: after a QA row's question (a window's context), only the
    rest counts."""
    out = []
    for sample, text in zip(forget, texts, strict=True):
        prompt = sample.prompt
        if prompt and text.startswith(prompt) and len(text) > len(prompt):
            out.append(Sample(sample.sample_id, "forget", text[len(prompt) :], prompt=prompt))
        else:
            out.append(Sample(sample.sample_id, "forget", text))
    return out


def owners_of(name: str, samples: Sequence[Sample], forget_ids: Sequence[str]) -> list[int]:
    """The forget index each row of auxiliary set `name` belongs to, by its `source_id`."""
    index = {sample_id: i for i, sample_id in enumerate(forget_ids)}
    owners = []
    for sample in samples:
        if sample.source_id not in index:
            raise RowSetError(
                f"auxiliary set {name!r}: row {sample.sample_id!r} has source_id "
                f"{sample.source_id!r}, which is no forget sample; tie every row to the forget "
                "sample it belongs to"
            )
        owners.append(index[sample.source_id])
    return owners


def row_sets(
    tokenizer: PreTrainedTokenizerBase,
    forget: Sequence[Sample],
    retain: Sequence[Sample],
    auxiliary: Mapping[str, Sequence[Sample]],
    guard: Sequence[Sample] = (),
) -> RowSets:
    """Every set encoded once; an empty auxiliary set is left out, no guard rows are None."""
    forget_ids = [s.sample_id for s in forget]
    tied = {}
    for name, samples in auxiliary.items():
        if samples:
            owners = owners_of(name, samples, forget_ids)
            tied[name] = RowSet(*tokenized(tokenizer, samples), owners=owners)
    guarded = RowSet(*tokenized(tokenizer, guard)) if guard else None
    return RowSets(forget_ids, RowSet(*tokenized(tokenizer, forget)),
                   RowSet(*tokenized(tokenizer, retain)), tied, guard=guarded)  # fmt: skip
