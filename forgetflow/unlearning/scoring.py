"""Scoring while unlearning: the forget set (and the holdout at the first scoring, the
thresholds' calibration, or always with `drive.rescore_holdout`) scored into the ledger, sharded
across processes, under the drive's dtype."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import torch
import torch.distributed as dist
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.memorization.ledger import append
from forgetflow.memorization.score import score_to_ledger
from forgetflow.records import Sample

if TYPE_CHECKING:  # not at run time: a procedure's module may be imported while config.py is
    from forgetflow.unlearning.config import DriveConfig


def world() -> tuple[int, int]:
    """(rank, size) of the process group, (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@dataclass(frozen=True)
class Scorer:
    """Scores `forget` (and `holdout`) with the drive's metrics in `dtype` (its effective one)."""

    tokenizer: PreTrainedTokenizerBase
    forget: Sequence[Sample]
    holdout: Sequence[Sample]
    settings: DriveConfig
    dtype: torch.dtype

    def __call__(self, model: PreTrainedModel, ledger: pa.Table | None, step: int) -> pa.Table:
        """`ledger` with the scores of `model` at `step` appended; the model's mode is kept."""
        rank, size = world()
        samples = list(self.forget)
        if ledger is None or self.settings.rescore_holdout:
            samples += self.holdout
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        metrics, batch = tuple(self.settings.metrics), self.settings.batch_size
        with torch.autocast(device.type, torch.bfloat16, self.dtype == torch.bfloat16):
            mine = samples[rank::size]
            table = score_to_ledger(model, self.tokenizer, mine, step, batch, metrics)
        model.train(was_training)
        if size > 1:
            parts: list[pa.Table | None] = [None] * size
            dist.all_gather_object(parts, table)
            table = pa.concat_tables([p for p in parts if p is not None])
        return append(ledger, table)
