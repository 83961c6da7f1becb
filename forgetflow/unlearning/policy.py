"""The memorization ledger drives training, per sample: which rows to train on, how much each
counts, and when to stop. Pure functions and a small guard state, tested on constructed ledgers.

Thresholds are calibrated on non-members: the holdout's values at the first scored step (the
model before unlearning; ledger.calibrated). The aggregate stop uses the stopping rule (the
holdout mean, as Jang et al.); selection and the per-sample stop use the outlier rule
(memorization.thresholds). A sample is memorized when its latest value lies beyond the
threshold in the metric's memorized direction (ledger.beyond).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import torch

from forgetflow.memorization.ledger import beyond, calibrated, values_at
from forgetflow.memorization.metrics import direction
from forgetflow.memorization.thresholds import ThresholdRule


def last_step(ledger: pa.Table) -> int:
    return max(ledger["step"].to_pylist())


def latest(ledger: pa.Table, metric: str) -> dict[str, float]:
    """Each forget sample's value of `metric` at the ledger's last step."""
    values = values_at(ledger, "forget", metric, last_step(ledger))
    if not values:
        raise ValueError(f"the ledger has no forget {metric!r} at its last step")
    return values


def forget_mean(ledger: pa.Table, metric: str) -> float:
    """The forget set's mean of `metric` at the ledger's last step."""
    values = latest(ledger, metric)
    return sum(values.values()) / len(values)


def crossed(mean: float, line: float, metric: str) -> bool:
    """True when `mean` lies strictly on the non-memorized side of `line` (MA below it)."""
    return direction(metric) * (mean - line) < 0


def select(
    ids: Sequence[str], values: dict[str, float], limit: float, sign: int, inclusive: bool = False
) -> list[int]:
    """Positions in `ids` (a drawn batch) to train on: the samples still beyond `limit` (or at it,
    `inclusive`: SGA's MA >= gamma), and always the batch's most memorized one (so a step never
    comes out empty)."""
    keep = set(beyond({i: values[i] for i in ids}, limit, sign, inclusive))
    top = max(range(len(ids)), key=lambda k: sign * values[ids[k]])
    return [k for k, i in enumerate(ids) if i in keep or k == top]


def memorization_weights(ids: Sequence[str], values: dict[str, float], sign: int) -> torch.Tensor:
    """Per-row loss weights with mean 1, proportional to how memorized each row is: its value
    shifted so that the batch's least memorized row weighs least (but not 0: every row keeps at
    least a tenth of the mean weight)."""
    raw = torch.tensor([sign * values[i] for i in ids], dtype=torch.float64)
    shifted = raw - raw.min()
    if float(shifted.sum()) == 0.0:
        return torch.ones(len(ids), dtype=torch.float32)
    weights = shifted / shifted.mean()
    weights = 0.1 + 0.9 * weights
    return (weights / weights.mean()).float()


def aggregate_done(ledger: pa.Table, metrics: Sequence[str], rule: ThresholdRule) -> bool:
    """Jang et al.'s stop: the forget set's mean of every metric (MA, EL_n) at the last step is
    on the non-memorized side of its threshold under the stopping `rule`."""
    return all(crossed(forget_mean(ledger, metric), calibrated(ledger, metric, rule), metric)
               for metric in metrics)  # fmt: skip


def remaining(ledger: pa.Table, metric: str, rule: ThresholdRule) -> tuple[str, ...]:
    """Forget samples whose latest value is still beyond the outlier `rule`'s threshold."""
    return beyond(latest(ledger, metric), calibrated(ledger, metric, rule), direction(metric))


@dataclass
class UtilityGuard:
    """Stop when the guard's loss (general text's guard half) rises more than `margin` above its
    first value; the best
    checkpoint is the scored step with the least memorized mean forget value among those within
    the margin: the lowest for a metric where higher is memorized (`sign` +1, e.g. MA), the
    highest where lower is (`sign` -1, e.g. loss, zlib); `sign` is `direction(metric)`."""

    margin: float
    sign: int = 1
    start: float | None = None
    best_step: int | None = None
    best_value: float | None = None
    history: list[tuple[int, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.sign not in (1, -1):
            raise ValueError(
                f"the guard's sign is {self.sign}: it must be direction(metric), 1 or -1"
            )

    def record(self, step: int, guard_loss: float, forget_value: float) -> bool:
        """Record a scored step; True when training must stop (the guard's loss broke the
        margin). `best_step` becomes `step` when it is the best checkpoint so far."""
        self.history.append((step, guard_loss, forget_value))
        if self.start is None:
            self.start = guard_loss
        within = guard_loss <= self.start + self.margin
        less_memorized = (self.best_value is None
                          or self.sign * forget_value < self.sign * self.best_value)  # fmt: skip
        if within and less_memorized:
            self.best_step, self.best_value = step, forget_value
        return not within

    def state(self) -> dict:
        return {"margin": self.margin, "sign": self.sign, "start": self.start,
                "best_step": self.best_step, "best_value": self.best_value,
                "history": self.history}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> UtilityGuard:
        history = [tuple(h) for h in state["history"]]
        return cls(margin=state["margin"], sign=state["sign"], start=state["start"],
                   best_step=state["best_step"], best_value=state["best_value"],
                   history=history)  # type: ignore[arg-type]  # fmt: skip
