"""A step's rows: the forget and retain rows drawn from their seeded shuffles, selected and
weighted by the memorization ledger (policy.py), then padded into the UnlearningBatch a method's
loss receives, with every auxiliary row of those forget rows and the reference model's values."""

from __future__ import annotations

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
from forgetflow.unlearning.rows import RowSet, RowSets
from forgetflow.unlearning.state import LoopState, Weigh


@dataclass(frozen=True)
class Draw:
    """One step's rows, by index: forget rows (after selection), retain rows, and the forget
    rows' loss weights (None: uniform)."""

    forget: list[int]
    retain: list[int]
    weights: torch.Tensor | None = None


def draw(
    state: LoopState, rows: RowSets, config: TrainingConfig, thresholds: Thresholds,
    weigh: Weigh | None = None,
) -> Draw:  # fmt: skip
    """The next step's rows from `state`'s samplers (advancing them and `state.consumed`); with a
    ledger, the drive's selection and memorization weights; with `weigh` (a procedure's), each
    drawn forget row's weight by its sample id multiplies in."""
    drawn = drive(state, rows, config, thresholds)
    if weigh is None:
        return drawn
    weights = weigh(state, [rows.forget_ids[i] for i in drawn.forget]).float()
    if drawn.weights is not None:
        weights = weights * drawn.weights
    return Draw(drawn.forget, drawn.retain, weights)


def drive(state: LoopState, rows: RowSets, config: TrainingConfig, thresholds: Thresholds) -> Draw:
    """The drawn rows under the drive's selection and memorization weights."""
    picked = state.samplers["forget"].next()
    retain = state.samplers["retain"].next() if len(rows.retain) else []
    state.consumed += len(picked)
    settings = config.drive
    if not (settings.select or settings.weights == "memorization") or state.ledger is None:
        return Draw(picked, retain)
    values = policy.latest(state.ledger, settings.metric)
    sign = direction(settings.metric)
    ids = [rows.forget_ids[i] for i in picked]
    if settings.select:
        fixed = settings.select_threshold
        limit = fixed if fixed is not None else calibrated(state.ledger, settings.metric,
                                                           thresholds.outliers)  # fmt: skip
        keep = policy.select(ids, values, limit, sign, inclusive=fixed is not None)
        picked, ids = [picked[k] for k in keep], [ids[k] for k in keep]
        retain = retain[: max(1, len(retain) * len(keep) // config.batch_size)]
    weights = None
    if settings.weights == "memorization":
        weights = policy.memorization_weights(ids, values, sign)
    return Draw(picked, retain, weights)


class Batches:
    """Pads rows picked by index into UnlearningBatches, with the reference's values for them."""

    def __init__(
        self, rows: RowSets, pad: int, reference: CachedReference | ResidentReference | None
    ) -> None:
        self.rows, self.pad, self.reference = rows, pad, reference

    def padded(self, rows: RowSet | None, picked: list[int]) -> TokenBatch | None:
        """Rows `picked` of `rows` (each scored from its start), padded; None when empty."""
        if rows is None or not len(rows) or not picked:
            return None
        return pad_right([rows.ids[i] for i in picked], self.pad, [rows.starts[i] for i in picked])

    def batch(
        self, picked: list[int], retain: list[int], weights: torch.Tensor | None
    ) -> UnlearningBatch:
        """Forget rows `picked` with their auxiliary and preferred rows, retain rows `retain`."""
        rows = self.rows
        forget = self.padded(rows.forget, picked)
        if forget is None:
            raise ValueError("a batch needs at least one forget row")
        retain_batch = self.padded(rows.retain, retain)
        preferred = self.padded(rows.preferred, picked)
        tied_rows = {name: tied.of(picked) for name, tied in rows.auxiliary.items()}
        auxiliary = {name: self.padded(rows.auxiliary[name], indices)
                     for name, indices in tied_rows.items()}  # fmt: skip
        present = {name: batch for name, batch in auxiliary.items() if batch is not None}
        reference = None
        if isinstance(self.reference, CachedReference):
            indexed = {name: (tied_rows[name], batch) for name, batch in present.items()}
            reference = self.reference.batch(picked, retain, retain_batch, indexed)
        elif self.reference is not None:
            reference = self.reference.values(forget, preferred, retain_batch, present)
        return UnlearningBatch(
            forget=forget, retain=retain_batch,
            auxiliary=present,
            preferred=preferred, weights=weights, reference=reference,
        )  # fmt: skip
