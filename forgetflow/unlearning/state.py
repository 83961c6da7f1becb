"""What the unlearning loop records and what a checkpoint saves and restores of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import torch
from pydantic import BaseModel
from transformers import PreTrainedModel

from forgetflow.unlearning.policy import UtilityGuard
from forgetflow.unlearning.rows import Cycler, Rows


@dataclass(frozen=True)
class StepLog:
    step: int
    values: dict[str, float]


@dataclass
class TrainingResult:
    logs: list[StepLog]
    ledger: pa.Table | None
    steps: int
    stopped_by: str  # "steps", "epochs", "aggregate", "per_sample" or "guard"
    best_step: int | None = None  # the utility guard's checkpoint, restored at the end
    model: PreTrainedModel | None = None  # the trained model (a peft model under LoRA)
    guard: list[tuple[int, float, float]] = field(default_factory=list)  # step, retain, forget


class CheckpointedLoop(Protocol):
    """The parts of a running loop a checkpoint fingerprints, saves and restores."""

    method: BaseModel
    config: BaseModel
    thresholds: BaseModel
    seed: int
    rows: Rows
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    forget_order: Cycler
    retain_order: Cycler
    step: int
    consumed: int
    stopped_by: str | None
    logs: list[StepLog]
    guard: UtilityGuard | None
    ledger: pa.Table | None
    checkpoint_dir: Path | None
    rank: int
    world: int
