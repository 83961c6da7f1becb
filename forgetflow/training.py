"""The one unlearning loop: every method is a loss plugged into it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm import TokenBatch, encode, pad_right
from forgetflow.methods.batch import UnlearningBatch
from forgetflow.methods.registry import get_method


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(40, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    batch_size: int = Field(8, ge=1)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)


@dataclass(frozen=True)
class StepLog:
    step: int
    values: dict[str, float]


class Cycler:
    """Endless seeded shuffles of `count` indices, `size` at a time."""

    def __init__(self, count: int, size: int, seed: int) -> None:
        self.count, self.size = count, min(size, count)
        self.rng = torch.Generator().manual_seed(seed)
        self.queue: list[int] = []

    def next(self) -> list[int]:
        while len(self.queue) < self.size:
            self.queue += torch.randperm(self.count, generator=self.rng).tolist()
        picked, self.queue = self.queue[: self.size], self.queue[self.size :]
        return picked


class BatchSource:
    """Seeded forget batches, each with the twins of its samples, plus retain batches."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int,
        seed: int,
        forget: Sequence[str],
        retain: Sequence[str],
        twins: Sequence[str | None],
    ) -> None:
        self.pad = tokenizer.pad_token_id
        self.forget = encode(tokenizer, forget)
        self.retain = encode(tokenizer, retain) if retain else []
        present = [i for i, twin in enumerate(twins) if twin]
        encoded = encode(tokenizer, [twins[i] for i in present]) if present else []
        self.twins = dict(zip(present, encoded, strict=True))
        self.forget_order = Cycler(len(self.forget), batch_size, seed)
        self.retain_order = Cycler(max(1, len(self.retain)), batch_size, seed + 1)

    def _pad(self, sequences: list[list[int]]) -> TokenBatch | None:
        return pad_right(sequences, self.pad) if sequences else None

    def next(self) -> UnlearningBatch:
        picked = self.forget_order.next()
        retain = [self.retain[i] for i in self.retain_order.next()] if self.retain else []
        return UnlearningBatch(
            forget=pad_right([self.forget[i] for i in picked], self.pad),
            retain=self._pad(retain),
            antisamples=self._pad([self.twins[i] for i in picked if i in self.twins]),
        )


def unlearn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    method: BaseModel,
    config: TrainingConfig,
    seed: int,
    forget: Sequence[str],
    retain: Sequence[str] = (),
    twins: Sequence[str | None] = (),
    on_step: Callable[[StepLog], None] | None = None,
) -> list[StepLog]:
    """Train `model` in place for `config.steps` steps of `method`'s loss.

    `twins[i]` is the anti-sample of `forget[i]` (or None); a forget batch brings its twins.
    """
    loss_fn = get_method(method.name).loss  # type: ignore[attr-defined]
    if not forget:
        raise ValueError("the forget set is empty: nothing to unlearn")
    torch.manual_seed(seed)
    source = BatchSource(tokenizer, config.batch_size, seed, forget, retain, twins)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    logs: list[StepLog] = []
    model.train()
    for step in range(1, config.steps + 1):
        batch = source.next()
        out = loss_fn(method, model, batch)
        optimizer.zero_grad()
        out.loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        logs.append(StepLog(step, {**out.logs, "grad_norm": float(norm)}))
        if on_step is not None:
            on_step(logs[-1])
    model.eval()
    return logs
