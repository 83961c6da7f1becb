"""Checkpoints of the unlearning loop: everything a re-run needs to continue where a stopped run
was and end with the same weights (model, optimizer, scheduler, RNG states, sampler positions,
ledger, logs, drive state).

Layout under the run's checkpoint directory: `last/` (replaced whole at each save: written
beside it, then renamed), `best.pt` (the utility guard's best weights) and `fingerprint.json`
(what the run trains: a re-run with other settings or data refuses to resume from it).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import torch
import torch.distributed as dist

from forgetflow.atomic import staged_dir, staged_file, write_text
from forgetflow.hashing import content_sha256
from forgetflow.unlearning import policy
from forgetflow.unlearning.state import CheckpointedLoop, StepLog

STATE = "state.pt"
LEDGER = "ledger.parquet"


class CheckpointError(RuntimeError):
    """A checkpoint directory belongs to another run, or is damaged."""


def fingerprint(trainer: CheckpointedLoop) -> str:
    what = {
        "method": trainer.method.model_dump(mode="json"),
        "config": trainer.config.model_dump(mode="json", exclude={"checkpoint_every"}),
        "seed": trainer.seed, "forget": trainer.rows.forget, "retain": trainer.rows.retain,
        "starts": [trainer.rows.forget_starts, trainer.rows.retain_starts],
        "twins": sorted(trainer.rows.twins.items()), "world": trainer.world,
        "thresholds": trainer.thresholds.model_dump(mode="json"),
    }  # fmt: skip
    return content_sha256(what)


def barrier(trainer: CheckpointedLoop) -> None:
    if trainer.world > 1:
        dist.barrier()


def save(trainer: CheckpointedLoop) -> None:
    """Write `last/` for the trainer's current step (rank 0 writes; every rank waits)."""
    directory = trainer.checkpoint_dir
    assert directory is not None
    if trainer.rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
        write_text(directory / "fingerprint.json", json.dumps({"sha256": fingerprint(trainer)}))
        with staged_dir(directory / "last", replace=True) as staging:
            write_last(trainer, staging)
    barrier(trainer)


def write_last(trainer: CheckpointedLoop, staging: Path) -> None:
    state = {
            "step": trainer.step, "consumed": trainer.consumed, "stopped_by": trainer.stopped_by,
            "model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(),
            "scheduler": trainer.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(), "python_rng": random.getstate(),
            "forget_order": trainer.forget_order.state(),
            "retain_order": trainer.retain_order.state(),
            "logs": [(log.step, log.values) for log in trainer.logs],
            "guard": trainer.guard.state() if trainer.guard is not None else None,
        }  # fmt: skip
    torch.save(state, staging / STATE)
    if trainer.ledger is not None:
        pq.write_table(trainer.ledger, staging / LEDGER)


def resume(trainer: CheckpointedLoop) -> bool:
    """Load `last/` into the trainer when there is one; False for a fresh run."""
    directory = trainer.checkpoint_dir
    assert directory is not None
    last = directory / "last"
    if not (last / STATE).is_file():
        return False
    recorded = json.loads((directory / "fingerprint.json").read_text())["sha256"]
    if recorded != fingerprint(trainer):
        raise CheckpointError(
            f"{directory} holds checkpoints of a run with other settings or data; "
            "use another checkpoint directory or remove it"
        )
    state = torch.load(last / STATE, weights_only=False)
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    trainer.forget_order.load(state["forget_order"])
    trainer.retain_order.load(state["retain_order"])
    trainer.step, trainer.consumed = state["step"], state["consumed"]
    trainer.stopped_by = state["stopped_by"]
    trainer.logs = [StepLog(step, values) for step, values in state["logs"]]
    if state["guard"] is not None:
        trainer.guard = policy.UtilityGuard.from_state(state["guard"])
    if (last / LEDGER).is_file():
        trainer.ledger = pq.read_table(last / LEDGER)
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
