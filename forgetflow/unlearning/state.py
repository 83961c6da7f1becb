"""What the unlearning loop records (StepLog, TrainingResult) and its progress (LoopState): the
one object a checkpoint saves (`state_dict()`) and a resume loads (`load_state_dict()`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import torch
from transformers import PreTrainedModel

from forgetflow.unlearning.policy import UtilityGuard
from forgetflow.unlearning.rows import Cycler


@dataclass(frozen=True)
class StepLog:
    step: int
    values: dict[str, float]


@dataclass
class TrainingResult:
    logs: list[StepLog]
    ledger: pa.Table | None
    steps: int
    stopped_by: str  # "steps", "epochs", "aggregate", "per_sample", "guard" or a procedure's
    best_step: int | None = None  # the utility guard's checkpoint, restored at the end
    model: PreTrainedModel | None = None  # the trained model (a peft model under LoRA)
    guard: list[tuple[int, float, float]] = field(default_factory=list)  # step, guard loss, forget
    # a procedure's own tables by artifact name (UnSTAR's rounds), which the stage persists
    tables: dict[str, pa.Table] = field(default_factory=dict)


def rng_state() -> dict[str, Any]:
    """The global random generators a step draws from (dropout, Python's random)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class LoopState:
    """Everything a resumed run needs to end with the weights of an uninterrupted one: the model,
    optimizer and scheduler (by reference: `state_dict()` takes their state dicts), the samplers'
    positions, the global RNG states, the ledger, the logs, the utility guard and the counters.

    The loop keeps its progress here and nowhere else. `best_weights` is the guard's best
    checkpoint in memory for a run without a checkpoint folder (one with a folder keeps it in
    `best.pt`), so it is not part of `state_dict()`.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    samplers: dict[str, Cycler]  # the seeded shuffles rows are drawn from, by row set
    guard: UtilityGuard | None = None
    ledger: pa.Table | None = None
    step: int = 0  # optimizer steps taken
    consumed: int = 0  # forget rows drawn (epochs are consumed / forget rows)
    stopped_by: str = ""  # the stopping rule that held, "" while training
    logs: list[StepLog] = field(default_factory=list)
    best_weights: dict[str, torch.Tensor] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # a procedure's own state (its `stop`'s)

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors (torch.save writes them) and the ledger (an Arrow table)."""
        return {
            "step": self.step, "consumed": self.consumed, "stopped_by": self.stopped_by,
            "logs": [(log.step, log.values) for log in self.logs],
            "guard": self.guard.state() if self.guard is not None else None,
            "ledger": self.ledger,
            "samplers": {name: cycler.state() for name, cycler in self.samplers.items()},
            "rng": rng_state(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "extra": self.extra,
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state` (what `state_dict()` returned when it was saved)."""
        if set(state["samplers"]) != set(self.samplers):
            raise ValueError(
                f"the saved state draws from row sets {sorted(state['samplers'])}, this run from "
                f"{sorted(self.samplers)}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        for name, cycler in self.samplers.items():
            cycler.load(state["samplers"][name])
        self.step, self.consumed = state["step"], state["consumed"]
        self.stopped_by = state["stopped_by"]
        self.logs = [StepLog(step, values) for step, values in state["logs"]]
        guard = state["guard"]
        self.guard = UtilityGuard.from_state(guard) if guard is not None else None
        self.ledger = state["ledger"]
        self.extra = dict(state.get("extra", {}))


# a procedure's loss weight of each drawn forget row, by sample id, read from the run's state
Weigh = Callable[[LoopState, Sequence[str]], torch.Tensor]
