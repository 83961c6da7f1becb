"""What one run of the unlearning loop trains: the method and its loss, the training settings,
the seed, the samples of every set, the ledger so far, where checkpoints go, and the callbacks.
A procedure runs the loop several times from one LoopInputs, changing a few fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from pydantic import BaseModel

from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.round_zero import RoundZero
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.records import Sample
from forgetflow.unlearning.methods.registry import LossMethod
from forgetflow.unlearning.state import StepLog, Weigh

if TYPE_CHECKING:  # not at run time: a procedure's module may be imported while config.py is
    from forgetflow.unlearning.config import TrainingConfig


@dataclass(frozen=True)
class LoopInputs:
    """One loop run. `auxiliary`: named sets of rows tied to forget samples by `source_id`
    (rows.py), e.g. {"antisamples": [...]}. `ledger`: the scores so far (step 0: the model before
    unlearning); without one the loop scores its first step itself when the drive needs it.
    `checkpoint_dir`: the run resumes from its last checkpoint there (same settings and data)."""

    method: BaseModel  # a loss method's config
    config: TrainingConfig
    seed: int
    forget: Sequence[Sample]
    retain: Sequence[Sample] = ()
    holdout: Sequence[Sample] = ()
    auxiliary: Mapping[str, Sequence[Sample]] = field(default_factory=dict)
    ledger: pa.Table | None = None
    checkpoint_dir: Path | None = None
    hooks: Sequence[Callable[[StepLog], None]] = ()  # called with every step's log
    thresholds: Thresholds = field(default_factory=Thresholds)
    # the loss to train with; None: the registered loss method named `method.name`
    loss: LossMethod | None = None
    # steps taken before this run (a procedure's earlier runs): this run's steps count on from it
    first_step: int = 0
    # asked after every step (after its scoring): a non-empty answer stops the run, as stopped_by
    stop: Callable[[StepLog], str] | None = None
    # general text's guard half: what the utility guard measures (never trained on)
    guard: Sequence[Sample] = ()
    # a facts request's targets and question sources (UnSTAR's procedure reads them)
    facts: FactRequest | None = None
    # UnSTAR's round 0 as stage 2 wrote it (None: the procedure writes it)
    round_zero: RoundZero | None = None
    # a procedure's loss weight of each step's forget rows by sample id, read from the run's state
    # (`state.extra`, which checkpoints keep: ICU's flags, 0 for a sample already forgotten)
    weigh: Weigh | None = None
