"""A step's rows: the forget and retain rows drawn from their seeded shuffles, selected and
weighted by the memorization ledger (policy.py), then padded into the UnlearningBatch a method's
loss receives, with the reference model's values for those rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from forgetflow.lm.tokens import TokenBatch, pad_right
from forgetflow.memorization.ledger import calibrated
from forgetflow.memorization.metrics import direction
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.unlearning import policy
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.methods.batch import UnlearningBatch
from forgetflow.unlearning.reference_model import CachedReference, ResidentReference
from forgetflow.unlearning.rows import Rows
from forgetflow.unlearning.state import LoopState


@dataclass(frozen=True)
class Draw:
    """One step's rows, by index: forget rows (after selection), retain rows, and the forget
    rows' loss weights (None: uniform)."""

    forget: list[int]
    retain: list[int]
    weights: torch.Tensor | None = None


def draw(state: LoopState, rows: Rows, config: TrainingConfig, thresholds: Thresholds) -> Draw:
    """The next step's rows from `state`'s samplers (advancing them and `state.consumed`); with a
    ledger, the drive's selection and memorization weights."""
    picked = state.samplers["forget"].next()
    retain = state.samplers["retain"].next() if rows.retain else []
    state.consumed += len(picked)
    settings = config.drive
    if not (settings.select or settings.weights == "memorization") or state.ledger is None:
        return Draw(picked, retain)
    values = policy.latest(state.ledger, settings.metric)
    sign = direction(settings.metric)
    ids = [rows.forget_ids[i] for i in picked]
    if settings.select:
        limit = calibrated(state.ledger, settings.metric, thresholds.outliers)
        keep = policy.select(ids, values, limit, sign)
        picked, ids = [picked[k] for k in keep], [ids[k] for k in keep]
        retain = retain[: max(1, len(retain) * len(keep) // config.batch_size)]
    weights = None
    if settings.weights == "memorization":
        weights = policy.memorization_weights(ids, values, sign)
    return Draw(picked, retain, weights)


class Batches:
    """Pads rows picked by index into UnlearningBatches, with the reference's values for them."""

    def __init__(
        self, rows: Rows, pad: int, reference: CachedReference | ResidentReference | None
    ) -> None:
        self.rows, self.pad, self.reference = rows, pad, reference

    def padded(
        self, rows: Sequence[list[int]] | dict[int, list[int]], starts: list[int] | None,
        picked: list[int],
    ) -> TokenBatch | None:  # fmt: skip
        """Rows `picked` (each scored from its start, when given), padded; None when empty."""
        if not rows or not picked:
            return None
        chosen = [starts[i] for i in picked] if starts is not None else None
        return pad_right([rows[i] for i in picked], self.pad, chosen)

    def batch(
        self, picked: list[int], retain: list[int], weights: torch.Tensor | None
    ) -> UnlearningBatch:
        """Forget rows `picked` (their anti-sample and preferred rows too), retain rows `retain`."""
        rows = self.rows
        forget = self.padded(rows.forget, rows.forget_starts, picked)
        if forget is None:
            raise ValueError("a batch needs at least one forget row")
        retain_batch = self.padded(rows.retain, rows.retain_starts, retain)
        preferred = self.padded(rows.preferred, rows.preferred_starts, picked)
        reference = None
        if isinstance(self.reference, CachedReference):
            reference = self.reference.batch(picked, retain, retain_batch)
        elif self.reference is not None:
            reference = self.reference.values(forget, preferred, retain_batch)
        return UnlearningBatch(
            forget=forget, retain=retain_batch,
            antisamples=self.padded(rows.twins, None, [i for i in picked if i in rows.twins]),
            preferred=preferred, weights=weights, reference=reference,
        )  # fmt: skip
