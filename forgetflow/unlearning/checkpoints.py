"""Checkpoints of the unlearning loop: files only. A checkpoint is the loop's
`LoopState.state_dict()` (torch.save; the ledger as Parquet beside it) and a resume hands what it
reads to `LoopState.load_state_dict()`, so a re-run continues where a stopped run was and ends
with the same weights.

Layout under the run's checkpoint directory: `last/` (replaced whole at each save: written
beside it, then renamed), `best.pt` (the utility guard's best weights) and `fingerprint.json`
(what the run trains: a re-run with other settings or data refuses to resume from it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import pyarrow.parquet as pq
import torch
import torch.distributed as dist

from forgetflow.atomic import staged_dir, staged_file, write_text
from forgetflow.hashing import content_sha256
from forgetflow.unlearning.inputs import LoopInputs
from forgetflow.unlearning.rows import RowSets
from forgetflow.unlearning.state import LoopState

STATE = "state.pt"
LEDGER = "ledger.parquet"


class CheckpointError(RuntimeError):
    """A checkpoint directory belongs to another run, or is damaged."""


class CheckpointedLoop(Protocol):
    """What a checkpoint fingerprints, saves and restores of a running loop."""

    inputs: LoopInputs
    rows: RowSets  # the inputs' samples, encoded
    state: LoopState
    checkpoint_dir: Path | None
    rank: int
    world: int


def fingerprint(trainer: CheckpointedLoop) -> str:
    """What the run trains: its method, settings (but how often it checkpoints), seed, row sets,
    processes, thresholds and first step."""
    inputs = trainer.inputs
    what = {
        "method": inputs.method.model_dump(mode="json"),
        "config": inputs.config.model_dump(mode="json", exclude={"checkpoint_every"}),
        "seed": inputs.seed, "rows": trainer.rows.payload(), "world": trainer.world,
        "first_step": inputs.first_step, "thresholds": inputs.thresholds.model_dump(mode="json"),
    }  # fmt: skip
    return content_sha256(what)


def barrier(trainer: CheckpointedLoop) -> None:
    if trainer.world > 1:
        dist.barrier()


def directory_of(trainer: CheckpointedLoop) -> Path:
    if trainer.checkpoint_dir is None:
        raise CheckpointError("this run has no checkpoint directory")
    return trainer.checkpoint_dir


def save(trainer: CheckpointedLoop) -> None:
    """Write `last/` for the trainer's current step (rank 0 writes; every rank waits)."""
    directory = directory_of(trainer)
    if trainer.rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
        write_text(directory / "fingerprint.json", json.dumps({"sha256": fingerprint(trainer)}))
        with staged_dir(directory / "last", replace=True) as staging:
            write_state(trainer.state, staging)
    barrier(trainer)


def write_state(state: LoopState, folder: Path) -> None:
    values = state.state_dict()
    ledger = values.pop("ledger")
    torch.save(values, folder / STATE)
    if ledger is not None:
        pq.write_table(ledger, folder / LEDGER)


def read_state(folder: Path) -> dict:
    values = torch.load(folder / STATE, weights_only=False)
    values["ledger"] = pq.read_table(folder / LEDGER) if (folder / LEDGER).is_file() else None
    return values


def resume(trainer: CheckpointedLoop) -> bool:
    """Load `last/` into the trainer's state when there is one; False for a fresh run."""
    directory = directory_of(trainer)
    last = directory / "last"
    if not (last / STATE).is_file():
        return False
    recorded = json.loads((directory / "fingerprint.json").read_text())["sha256"]
    if recorded != fingerprint(trainer):
        raise CheckpointError(
            f"{directory} holds checkpoints of a run with other settings or data; "
            "use another checkpoint directory or remove it"
        )
    trainer.state.load_state_dict(read_state(last))
    return True


def save_best(directory: Path, model: torch.nn.Module, step: int, rank: int) -> None:
    if rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
        with staged_file(directory / "best.pt") as staging:
            torch.save({"step": step, "model": model.state_dict()}, staging)


def load_best(directory: Path, model: torch.nn.Module) -> int:
    state = torch.load(directory / "best.pt", weights_only=False)
    model.load_state_dict(state["model"])
    return int(state["step"])
