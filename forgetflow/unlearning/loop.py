"""The one unlearning loop: a loss method is plugged into it; a procedure drives it itself, one
or more times (procedure.py).

One optimizer step takes `batch_size` forget rows (and as many retain rows), split into
`grad_accum` micro-batches and, under `torchrun`, across processes; each part's loss is scaled
by its share of the batch, so k micro-batches of b rows give the gradient of one batch of k*b.
Every `drive.score_every` steps (or epochs) the forget set is scored into the ledger (the
holdout once, for the thresholds), which then drives the per-sample selection, weights and
stopping rules (policy.py).
Checkpoints hold everything a resumed run needs to end with the weights of an uninterrupted one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import torch
import torch.distributed as dist
from pydantic import BaseModel
from transformers import PreTrainedModel, get_scheduler
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.round_zero import RoundZero
from forgetflow.lm.dtypes import effective_dtype
from forgetflow.lm.logprobs import mean_nll
from forgetflow.memorization.metrics import direction
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.records import Sample
from forgetflow.unlearning import checkpoints, policy
from forgetflow.unlearning.batches import Batches, draw
from forgetflow.unlearning.config import TrainingConfig, apply_lora, make_optimizer
from forgetflow.unlearning.inputs import LoopInputs
from forgetflow.unlearning.methods.batch import NEEDS, PREFERRED
from forgetflow.unlearning.methods.registry import Procedure, get_loss_method, get_method
from forgetflow.unlearning.procedure import run_procedure
from forgetflow.unlearning.reference_model import CachedReference, ResidentReference
from forgetflow.unlearning.rows import (
    Cycler,
    RowSet,
    RowSets,
    preferred_samples,
    row_sets,
    split,
    tokenized,
)
from forgetflow.unlearning.scoring import Scorer, world
from forgetflow.unlearning.state import LoopState, StepLog, TrainingResult


class UnlearningLoop:
    """One run of the loop; `run()` trains until a stopping rule holds. Its progress is
    `state` (a LoopState: what a checkpoint saves)."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, inputs: LoopInputs
    ) -> None:
        self.inputs, config = inputs, inputs.config
        self.rank, self.world = world()
        check(inputs, self.world)
        self.method, self.config, self.seed = inputs.method, config, inputs.seed
        self.thresholds = inputs.thresholds  # the stopping and outlier rules
        self.spec = inputs.loss or get_loss_method(inputs.method.name)  # type: ignore[attr-defined]
        self.needs = self.spec.needs(inputs.method)
        if self.needs - NEEDS:
            raise ValueError(f"method {self.method.name} needs {sorted(self.needs - NEEDS)}: "  # type: ignore[attr-defined]
                             "the loop has none")  # fmt: skip
        self.tokenizer, self.pad = tokenizer, tokenizer.pad_token_id
        self.rows = self._encode(inputs.forget, inputs.retain, inputs.auxiliary, inputs.guard)
        self.hooks, self.checkpoint_dir = list(inputs.hooks), inputs.checkpoint_dir
        torch.manual_seed(self.seed)
        random.seed(self.seed)
        device = next(model.parameters()).device
        self.device_type = device.type  # autocast's device
        # bfloat16 settings: float32 on a CPU without native bf16 (lm.dtypes, one warning)
        self.train_dtype = effective_dtype(config.dtype, device)
        self.score_dtype = effective_dtype(config.drive.dtype, device)
        self.scorer = Scorer(tokenizer, inputs.forget, inputs.holdout, config.drive,
                             self.score_dtype)  # fmt: skip
        self.batches = Batches(self.rows, self.pad, self._reference(model))
        self.model = apply_lora(model, config.lora) if config.lora is not None else model
        self.module = self.model
        if self.world > 1:
            self.module = torch.nn.parallel.DistributedDataParallel(self.model)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(config, self.trainable)
        self.max_steps = self._max_steps(len(inputs.forget))
        self.scheduler = get_scheduler(config.schedule, self.optimizer,
                                       num_warmup_steps=config.warmup_steps,
                                       num_training_steps=self.max_steps)  # fmt: skip
        self.state = self._start()

    def _start(self) -> LoopState:
        """The state of a fresh run: samplers seeded, no step taken (after `first_step`)."""
        config, seed = self.config, self.seed
        retain_count = max(1, len(self.rows.retain))
        samplers = {"forget": Cycler(len(self.rows.forget), config.batch_size, seed),
                    "retain": Cycler(retain_count, config.batch_size, seed + 1)}  # fmt: skip
        guard = (policy.UtilityGuard(config.drive.guard_margin, direction(config.drive.metric))
                 if config.drive.guard_margin is not None else None)  # fmt: skip
        return LoopState(self.model, self.optimizer, self.scheduler, samplers, guard,
                         self.inputs.ledger, step=self.inputs.first_step)  # fmt: skip

    def _reference(self, model: PreTrainedModel) -> CachedReference | ResidentReference | None:
        """The model's values before this run's first update, for a loss that compares with them."""
        if not self.needs:
            return None
        top_k = getattr(self.method, "kl_top_k", 32)
        if self.config.reference == "resident":
            return ResidentReference(model, self.needs, top_k)
        rows = self.rows
        preferred = rows.preferred or RowSet([], [])
        tied = {name: rows_of.ids for name, rows_of in rows.auxiliary.items()}
        with self.autocast():  # the reference's values under the policy's autocast
            return CachedReference(model, self.needs, self.pad,
                                   (rows.forget.ids, rows.forget.starts),
                                   (preferred.ids, preferred.starts),
                                   rows.retain.ids, top_k, tied)  # fmt: skip

    def _encode(
        self, forget: Sequence[Sample], retain: Sequence[Sample],
        auxiliary: Mapping[str, Sequence[Sample]], guard: Sequence[Sample],
    ) -> RowSets:  # fmt: skip
        if self.config.drive.guard_margin is not None and not guard:
            raise ValueError("the utility guard (drive.guard_margin) needs general text's guard "
                             "half: give general text (utility.text, or a scenario's)")  # fmt: skip
        rows = row_sets(self.tokenizer, forget, retain, auxiliary, guard)
        if PREFERRED not in self.needs:
            return rows
        if self.spec.preferred is None:
            raise ValueError(f"method {self.method.name} needs preferred texts it cannot make")  # type: ignore[attr-defined]
        texts = self.spec.preferred(self.method, forget, self.seed, self.tokenizer)
        preferred = RowSet(*tokenized(self.tokenizer, preferred_samples(forget, texts)))
        return replace(rows, preferred=preferred)

    def autocast(self) -> torch.autocast:
        """The autocast of every training forward pass, the reference's included."""
        return torch.autocast(self.device_type, dtype=torch.bfloat16,
                              enabled=self.train_dtype == torch.bfloat16)  # fmt: skip

    def _max_steps(self, count: int) -> int:
        """The first bound reached: `steps`, or `epochs` passes over the forget set."""
        bounds = [self.config.steps] if self.config.steps is not None else []
        if self.config.epochs is not None:
            per_epoch = count / min(self.config.batch_size, count)
            bounds.append(max(1, math.ceil(self.config.epochs * per_epoch)))
        return min(bounds)

    # --- one step -----------------------------------------------------------------------------

    def _train_step(self) -> dict[str, float]:
        drawn = draw(self.state, self.rows, self.config, self.thresholds, self.inputs.weigh)
        picked, retain, weights = drawn.forget, drawn.retain, drawn.weights
        total = len(picked)
        chunks = split(list(range(total)), self.config.grad_accum)
        retain_chunks = split(retain, self.config.grad_accum)
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        for index, (chunk, retain_chunk) in enumerate(zip(chunks, retain_chunks, strict=True)):
            mine = split(chunk, self.world)[self.rank]
            mine_retain = split(retain_chunk, self.world)[self.rank]
            last = index == len(chunks) - 1
            sync = nullcontext() if last or self.world == 1 else self.module.no_sync()  # type: ignore[operator]
            with sync:
                if not mine:  # this process got no row: it still joins the gradient all-reduce
                    zero = sum((p * 0).sum() for p in self.trainable)
                    zero.backward()  # type: ignore[union-attr]
                    continue
                rows = [picked[k] for k in mine]
                row_weights = weights[mine] if weights is not None else None
                with self.autocast():  # a resident reference's values too
                    batch = self.batches.batch(rows, mine_retain, row_weights)
                    out = self.spec.loss(self.method, self.module, batch)  # type: ignore[arg-type]
                share = len(mine) * self.world / total
                (out.loss * share).backward()
                for name, value in out.logs.items():
                    sums[name] = sums.get(name, 0.0) + value * len(mine) / total
        if self.world > 1:  # each process summed its own rows' shares
            parts: list[dict[str, float] | None] = [None] * self.world
            dist.all_gather_object(parts, sums)
            sums = {k: sum(p.get(k, 0.0) for p in parts if p) for k in set().union(*parts)}
        if self.config.max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.trainable, self.config.max_grad_norm)
            sums["grad_norm"] = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        sums["lr"] = self.scheduler.get_last_lr()[0]
        sums["rows"] = float(total)
        return sums

    # --- scoring and stopping -----------------------------------------------------------------

    def _taken(self) -> int:
        """Steps this run has taken (its steps count on from `first_step`)."""
        return self.state.step - self.inputs.first_step

    def _score_due(self, epoch_before: int) -> bool:
        settings = self.config.drive
        if settings.score_every is not None and self._taken() % settings.score_every == 0:
            return True
        epoch = self.state.consumed // len(self.rows.forget)
        return settings.score_every_epochs is not None and (
            epoch // settings.score_every_epochs > epoch_before // settings.score_every_epochs
        )

    def score(self, step: int) -> None:
        """Score the forget set at `step` into the ledger (scoring.Scorer)."""
        self.state.ledger = self.scorer(self.model, self.state.ledger, step)

    def guard_loss(self) -> float:
        """Mean NLL of the guard rows (general text's guard half, never trained on)."""
        count, guard = self.config.drive.guard_rows, self.rows.guard
        if guard is None:
            raise ValueError("the utility guard needs general text's guard half")
        return mean_nll(self.model, guard.ids[:count], guard.starts[:count], self.pad)

    def train_mode(self) -> None:
        """Training mode with the model's dropout, or eval mode (no dropout) when it is off."""
        self.model.train(self.config.dropout)

    def _after_scoring(self, values: dict[str, float]) -> str:
        """Log the ledger's figures for this step; the stopping rule that holds, or ''."""
        settings, state = self.config.drive, self.state
        ledger = state.ledger
        assert ledger is not None
        values[f"forget_{settings.metric}_mean"] = policy.forget_mean(ledger, settings.metric)
        left = policy.remaining(ledger, settings.metric, self.thresholds.outliers)
        values["outliers"] = float(len(left))
        if state.guard is not None:
            general = self.guard_loss()
            values["guard_loss"] = general
            best_before = state.guard.best_step
            broke = state.guard.record(
                state.step, general, values[f"forget_{settings.metric}_mean"]
            )
            if state.guard.best_step != best_before and self.checkpoint_dir is not None:
                checkpoints.save_best(self.checkpoint_dir, self.model, state.step, self.rank)
            elif state.guard.best_step != best_before:
                state.best_weights = {k: v.clone() for k, v in self.model.state_dict().items()}
            if broke:
                return "guard"
        if settings.stop_aggregate and policy.aggregate_done(
            ledger, settings.stop_aggregate, self.thresholds.stop
        ):
            return "aggregate"
        if settings.stop_per_sample and not left:
            return "per_sample"
        return ""

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> TrainingResult:
        state = self.state
        resumed = self.checkpoint_dir is not None and checkpoints.resume(self)
        if not resumed and self.config.drive.scores and state.ledger is None:
            self.score(state.step)
        if not resumed and state.guard is not None:
            self._after_scoring({})  # the guard's starting loss and first checkpoint
        self.train_mode()
        while not state.stopped_by:
            if self._taken() >= self.max_steps:
                by_steps = self.config.steps is not None and self.max_steps == self.config.steps
                state.stopped_by = "steps" if by_steps else "epochs"
                break
            self._step()
        every = self.config.checkpoint_every
        if self.checkpoint_dir is not None and every and self._taken() % every:
            checkpoints.save(self)  # the end: a re-run returns at once
        self.model.eval()
        best = state.guard.best_step if state.guard is not None else None
        if best is not None and best != state.step:
            self._restore_best()
        history = state.guard.history if state.guard is not None else []
        return TrainingResult(state.logs, state.ledger, state.step, state.stopped_by, best,
                              self.model, history)  # fmt: skip

    def _step(self) -> None:
        """One optimizer step, its scoring when due, its log, checkpoint and hooks."""
        state = self.state
        epoch_before = state.consumed // len(self.rows.forget)
        state.step += 1
        values = self._train_step()
        values["epoch"] = state.consumed / len(self.rows.forget)
        if self.config.drive.scores and self._score_due(epoch_before):
            self.score(state.step)
            state.stopped_by = self._after_scoring(values)
        log = StepLog(state.step, values)
        if not state.stopped_by and self.inputs.stop is not None:
            state.stopped_by = self.inputs.stop(log)
        state.logs.append(log)
        every = self.config.checkpoint_every
        if self.checkpoint_dir is not None and every and self._taken() % every == 0:
            checkpoints.save(self)
        for hook in self.hooks:
            hook(log)

    def _restore_best(self) -> None:
        if self.checkpoint_dir is not None:
            checkpoints.load_best(self.checkpoint_dir, self.model)
        elif self.state.best_weights is not None:
            self.model.load_state_dict(self.state.best_weights)


def check(inputs: LoopInputs, processes: int) -> None:
    """One error line for inputs no run can train on."""
    config = inputs.config
    if not inputs.forget:
        raise ValueError("the forget set is empty: nothing to unlearn")
    if config.batch_size % (config.grad_accum * processes):
        raise ValueError(
            f"batch_size {config.batch_size} must split evenly into grad_accum "
            f"{config.grad_accum} x {processes} processes"
        )
    if config.drive.uses_ledger and not inputs.holdout:
        raise ValueError("the ledger's thresholds need holdout samples (non-members)")


def unlearn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    method: BaseModel,
    config: TrainingConfig,
    seed: int,
    forget: Sequence[Sample],
    retain: Sequence[Sample] = (),
    holdout: Sequence[Sample] = (),
    auxiliary: Mapping[str, Sequence[Sample]] | None = None,
    ledger: pa.Table | None = None,
    checkpoint_dir: Path | None = None,
    hooks: Sequence[Callable[[StepLog], None]] = (),
    thresholds: Thresholds | None = None,
    guard: Sequence[Sample] = (),
    facts: FactRequest | None = None,
    round_zero: RoundZero | None = None,
) -> TrainingResult:
    """Train `model` (in place; under LoRA, an adapter on it: see `result.model`) with `method`:
    a loss method trains in one loop run, a procedure drives the loop itself (procedure.py).

    `auxiliary` names sets of rows tied to forget samples by `source_id` (rows.py), e.g.
    `{"antisamples": [...]}`: any number per forget sample, every one in each batch that holds
    it. `ledger` holds the scores before training (step 0); without one the loop scores step 0
    itself when the drive needs it. With `checkpoint_dir`, a run resumes from the last checkpoint
    there (same config and data). `guard`: general text's guard half, which the utility guard
    (drive.guard_margin) measures. `facts`: a facts request's targets and question sources
    (UnSTAR's procedure reads them); `round_zero`: UnSTAR's round 0 as stage 2 wrote it.
    """
    inputs = LoopInputs(method, config, seed, forget, retain, holdout, auxiliary or {}, ledger,
                        checkpoint_dir, hooks, thresholds or Thresholds(), guard=guard,
                        facts=facts, round_zero=round_zero)  # fmt: skip
    spec = get_method(method.name)  # type: ignore[attr-defined]
    if isinstance(spec, Procedure):
        return run_procedure(spec, model, tokenizer, inputs, UnlearningLoop)
    return UnlearningLoop(model, tokenizer, inputs).run()
