"""The one unlearning loop: every method is a loss plugged into it.

One optimizer step takes `batch_size` forget rows (and as many retain rows), split into
`grad_accum` micro-batches and, under `torchrun`, across processes; each part's loss is scaled
by its share of the batch, so k micro-batches of b rows give the gradient of one batch of k*b.
Every `drive.score_every` steps (or epochs) the forget and holdout sets are scored into the
ledger, which then drives the per-sample selection, weights and stopping rules (drive.py).
Checkpoints hold everything a resumed run needs to end with the weights of an uninterrupted one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import PreTrainedModel, get_scheduler
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow import checkpoints, drive
from forgetflow.lm import TokenBatch, encode, pad_right, sequence_nll
from forgetflow.memorization.ledger import append
from forgetflow.memorization.metrics import direction, parse_metrics
from forgetflow.memorization.stage import score_to_ledger
from forgetflow.memorization.windows import tokenize_samples
from forgetflow.methods.batch import NEEDS, PREFERRED, UnlearningBatch
from forgetflow.methods.registry import get_method
from forgetflow.records import Sample
from forgetflow.reference import CachedReference, ResidentReference

DEFAULT_STEPS = 40


class LoraSettings(BaseModel):
    """Train a LoRA adapter (peft) instead of every weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | None = Field(
        None, description="module names to adapt; default: peft's choice for the architecture"
    )
    save: Literal["merged", "adapter"] = Field(
        "merged", description="save the merged weights, or the adapter alone"
    )


class DriveConfig(BaseModel):
    """How the memorization ledger drives training (thresholds: the holdout at the first step)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_every: int | None = Field(None, ge=1, description="score every this many steps")
    score_every_epochs: int | None = Field(None, ge=1, description="or every this many epochs")
    metrics: list[str] = Field(["ma"], description="what each scoring adds to the ledger")
    metric: str = Field("ma", description="the metric selection, weights and stops judge by")
    threshold: Literal["mean", "quantile"] = "mean"
    quantile: float = Field(0.95, gt=0.0, lt=1.0)
    select: bool = Field(False, description="train only on samples still beyond the threshold")
    weights: Literal["uniform", "memorization"] = "uniform"
    stop_aggregate: list[str] = Field(
        [], description="stop once the forget mean of each of these (e.g. ma, el_10) is below "
        "its holdout mean (Jang et al.)",
    )  # fmt: skip
    stop_per_sample: bool = Field(False, description="stop once no sample is beyond threshold")
    guard_margin: float | None = Field(
        None, gt=0.0, description="utility guard: stop when the retain loss rises by more than "
        "this, and keep the best checkpoint",
    )  # fmt: skip
    guard_rows: int = Field(32, ge=1, description="retain rows the guard's loss is measured on")
    batch_size: int = Field(
        8, ge=1, description="rows per scoring forward pass (8: fastest here for MA of 240-token "
        "records on 2 cores, 32 was 35% slower)",
    )  # fmt: skip
    rescore_holdout: bool = Field(
        False, description="score the holdout at every scoring too (thresholds only use the "
        "first scoring's)",
    )  # fmt: skip

    @model_validator(mode="after")
    def consistent(self) -> DriveConfig:
        parse_metrics([*self.metrics, self.metric, *self.stop_aggregate])
        missing = {self.metric, *self.stop_aggregate} - set(self.metrics)
        if missing and self.scores:
            raise ValueError(f"{sorted(missing)} must be among the scored metrics {self.metrics}")
        if self.uses_ledger and not self.scores:
            raise ValueError("selection, memorization weights and ledger stops need score_every")
        return self

    @property
    def scores(self) -> bool:
        return self.score_every is not None or self.score_every_epochs is not None

    @property
    def uses_ledger(self) -> bool:
        return (self.select or self.weights == "memorization" or bool(self.stop_aggregate)
                or self.stop_per_sample or self.guard_margin is not None)  # fmt: skip


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int | None = Field(
        None, ge=1, description="most optimizer steps (40 when neither steps nor epochs is set)"
    )
    epochs: float | None = Field(None, gt=0, description="most passes over the forget set")
    lr: float = Field(1e-3, gt=0.0)
    batch_size: int = Field(8, ge=1, description="forget rows per optimizer step")
    grad_accum: int = Field(1, ge=1, description="micro-batches per step")
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float | None = Field(1.0, gt=0.0, description="clip; None: no clipping")
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="bfloat16: autocast forward passes, float32 master weights"
    )
    dropout: bool = Field(
        False, description="train with the model's dropout; off: deterministic steps that "
        "gradient accumulation and processes split exactly",
    )  # fmt: skip
    reference: Literal["cached", "resident"] = Field(
        "cached", description="reference values computed once, or a frozen model copy"
    )
    lora: LoraSettings | None = None
    checkpoint_every: int | None = Field(None, ge=1, description="save a checkpoint every N steps")
    drive: DriveConfig = DriveConfig()

    @model_validator(mode="after")
    def bounded(self) -> TrainingConfig:
        if self.steps is None and self.epochs is None:
            object.__setattr__(self, "steps", DEFAULT_STEPS)
        return self


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


class Cycler:
    """Endless seeded shuffles of `count` indices, `size` at a time; its state is checkpointed."""

    def __init__(self, count: int, size: int, seed: int) -> None:
        self.count, self.size = count, min(size, count)
        self.rng = torch.Generator().manual_seed(seed)
        self.queue: list[int] = []

    def next(self) -> list[int]:
        while len(self.queue) < self.size:
            self.queue += torch.randperm(self.count, generator=self.rng).tolist()
        picked, self.queue = self.queue[: self.size], self.queue[self.size :]
        return picked

    def state(self) -> dict:
        return {"rng": self.rng.get_state(), "queue": list(self.queue)}

    def load(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
        self.queue = list(state["queue"])


def world() -> tuple[int, int]:
    """(rank, size) of the process group, (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def split(items: Sequence[int], parts: int) -> list[list[int]]:
    """`items` in `parts` consecutive pieces whose sizes differ by at most one."""
    size, extra = divmod(len(items), parts)
    out, begin = [], 0
    for part in range(parts):
        end = begin + size + (1 if part < extra else 0)
        out.append(list(items[begin:end]))
        begin = end
    return out


def make_optimizer(
    config: TrainingConfig, params: list[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """Adam and AdamW use torch's fused kernels (one pass over all tensors, as the HF Trainer's
    default `adamw_torch_fused`)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    adam = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def apply_lora(model: PreTrainedModel, settings: LoraSettings) -> PreTrainedModel:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=settings.target_modules, task_type="CAUSAL_LM")  # fmt: skip
    return get_peft_model(model, config)  # type: ignore[return-value]


@dataclass
class Rows:
    """The encoded rows of every set the loop draws from; `*_starts[i]` is the index of row i's
    first scored token (1 for a text, the answer's first token for a QA row)."""

    forget_ids: list[str]
    forget: list[list[int]]
    forget_starts: list[int]
    retain: list[list[int]]
    retain_starts: list[int]
    twins: dict[int, list[int]]
    preferred: list[list[int]] = field(default_factory=list)
    preferred_starts: list[int] = field(default_factory=list)


def tokenized(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> tuple[list[list[int]], list[int]]:
    """Token ids and first scored index of each sample (a QA row scores its answer only)."""
    items = tokenize_samples(tokenizer, samples) if samples else []
    return [list(i.ids) for i in items], [i.start for i in items]


def preferred_samples(forget: Sequence[Sample], texts: Sequence[str]) -> list[Sample]:
    """The preferred texts as samples: after a QA row's question, only the answer counts."""
    out = []
    for sample, text in zip(forget, texts, strict=True):
        prompt = sample.prompt
        if prompt and text.startswith(prompt) and len(text) > len(prompt):
            out.append(Sample(sample.sample_id, "forget", text[len(prompt) :], prompt=prompt))
        else:
            out.append(Sample(sample.sample_id, "forget", text))
    return out


class UnlearningLoop:
    """State of one run; `run()` trains until a stopping rule holds."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        method: BaseModel,
        config: TrainingConfig,
        seed: int,
        forget: Sequence[Sample],
        retain: Sequence[Sample],
        holdout: Sequence[Sample],
        twins: Sequence[str | None],
        ledger: pa.Table | None,
        checkpoint_dir: Path | None,
        hooks: Sequence[Callable[[StepLog], None]],
    ) -> None:
        if not forget:
            raise ValueError("the forget set is empty: nothing to unlearn")
        if twins and len(twins) != len(forget):
            raise ValueError(f"{len(twins)} anti-samples for {len(forget)} forget samples")
        self.rank, self.world = world()
        if config.batch_size % (config.grad_accum * self.world):
            raise ValueError(
                f"batch_size {config.batch_size} must split evenly into grad_accum "
                f"{config.grad_accum} x {self.world} processes"
            )
        if config.drive.uses_ledger and not holdout:
            raise ValueError("the ledger's thresholds need holdout samples (non-members)")
        self.method, self.config, self.seed = method, config, seed
        self.spec = get_method(method.name)  # type: ignore[attr-defined]
        self.needs = self.spec.needs(method)
        unknown = self.needs - NEEDS
        if unknown:
            raise ValueError(f"method {method.name} needs {sorted(unknown)}: the loop has none")  # type: ignore[attr-defined]
        self.tokenizer, self.pad = tokenizer, tokenizer.pad_token_id
        self.forget_samples, self.holdout = list(forget), list(holdout)
        self.rows = self._encode(forget, retain, twins)
        self.hooks = list(hooks)
        self.checkpoint_dir = checkpoint_dir
        torch.manual_seed(seed)
        random.seed(seed)
        top_k = getattr(method, "kl_top_k", 32)
        self.cached = self.resident = None
        if self.needs and config.reference == "cached":
            rows = self.rows
            self.cached = CachedReference(model, self.needs, self.pad,
                                          (rows.forget, rows.forget_starts),
                                          (rows.preferred, rows.preferred_starts),
                                          rows.retain, top_k)  # fmt: skip
        elif self.needs:
            self.resident = ResidentReference(model, self.needs, top_k)
        self.model = apply_lora(model, config.lora) if config.lora is not None else model
        self.module = self.model
        if self.world > 1:
            self.module = torch.nn.parallel.DistributedDataParallel(self.model)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(config, trainable)
        self.max_steps = self._max_steps(len(forget))
        self.scheduler = get_scheduler(config.schedule, self.optimizer,
                                       num_warmup_steps=config.warmup_steps,
                                       num_training_steps=self.max_steps)  # fmt: skip
        self.forget_order = Cycler(len(forget), config.batch_size, seed)
        self.retain_order = Cycler(max(1, len(self.rows.retain)), config.batch_size, seed + 1)
        self.ledger = ledger
        self.guard = (drive.UtilityGuard(config.drive.guard_margin)
                      if config.drive.guard_margin is not None else None)  # fmt: skip
        self.step, self.consumed = 0, 0
        self.logs: list[StepLog] = []
        self.stopped_by = ""

    def _encode(
        self, forget: Sequence[Sample], retain: Sequence[Sample], twins: Sequence[str | None]
    ) -> Rows:
        tok = self.tokenizer
        present = [i for i, twin in enumerate(twins) if twin]
        encoded = encode(tok, [twins[i] for i in present]) if present else []  # type: ignore[misc]
        rows = Rows([s.sample_id for s in forget], *tokenized(tok, forget), *tokenized(tok, retain),
                    twins=dict(zip(present, encoded, strict=True)))  # fmt: skip
        if PREFERRED in self.needs:
            if self.spec.preferred is None:
                raise ValueError(f"method {self.method.name} needs preferred texts it cannot make")  # type: ignore[attr-defined]
            texts = self.spec.preferred(self.method, forget, self.seed)
            rows.preferred, rows.preferred_starts = tokenized(tok, preferred_samples(forget, texts))
        return rows

    def _max_steps(self, count: int) -> int:
        """The first bound reached: `steps`, or `epochs` passes over the forget set."""
        bounds = [self.config.steps] if self.config.steps is not None else []
        if self.config.epochs is not None:
            per_epoch = count / min(self.config.batch_size, count)
            bounds.append(max(1, math.ceil(self.config.epochs * per_epoch)))
        return min(bounds)

    # --- batches ------------------------------------------------------------------------------

    def _pad(self, rows: list[list[int]]) -> TokenBatch | None:
        return pad_right(rows, self.pad) if rows else None

    def _batch(self, picked: list[int], retain: list[int], weights: torch.Tensor | None):
        rows = self.rows
        forget = pad_right([rows.forget[i] for i in picked], self.pad,
                           [rows.forget_starts[i] for i in picked])  # fmt: skip
        retain_batch = None
        if retain:
            retain_batch = pad_right([rows.retain[i] for i in retain], self.pad,
                                     [rows.retain_starts[i] for i in retain])  # fmt: skip
        preferred = None
        if rows.preferred:
            preferred = pad_right([rows.preferred[i] for i in picked], self.pad,
                                  [rows.preferred_starts[i] for i in picked])  # fmt: skip
        reference = None
        if self.cached is not None:
            reference = self.cached.batch(picked, retain, retain_batch)
        elif self.resident is not None:
            reference = self.resident.values(forget, preferred, retain_batch)
        return UnlearningBatch(
            forget=forget, retain=retain_batch,
            antisamples=self._pad([rows.twins[i] for i in picked if i in rows.twins]),
            preferred=preferred, weights=weights, reference=reference,
        )  # fmt: skip

    def _draw(self) -> tuple[list[int], list[int], torch.Tensor | None]:
        """The step's forget rows (after selection), retain rows and per-row weights."""
        picked = self.forget_order.next()
        retain = self.retain_order.next() if self.rows.retain else []
        self.consumed += len(picked)
        settings = self.config.drive
        if not (settings.select or settings.weights == "memorization") or self.ledger is None:
            return picked, retain, None
        values = drive.latest(self.ledger, settings.metric)
        sign = direction(settings.metric)
        ids = [self.rows.forget_ids[i] for i in picked]
        if settings.select:
            limit = drive.threshold(self.ledger, settings.metric, settings.threshold,
                                    settings.quantile)  # fmt: skip
            keep = drive.select(ids, values, limit, sign)
            picked, ids = [picked[k] for k in keep], [ids[k] for k in keep]
            retain = retain[: max(1, len(retain) * len(keep) // self.config.batch_size)]
        weights = None
        if settings.weights == "memorization":
            weights = drive.memorization_weights(ids, values, sign)
        return picked, retain, weights

    # --- one step -----------------------------------------------------------------------------

    def _train_step(self) -> dict[str, float]:
        picked, retain, weights = self._draw()
        total = len(picked)
        chunks = split(list(range(total)), self.config.grad_accum)
        retain_chunks = split(retain, self.config.grad_accum)
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        autocast = torch.autocast("cpu", dtype=torch.bfloat16,
                                  enabled=self.config.dtype == "bfloat16")  # fmt: skip
        for index, (chunk, retain_chunk) in enumerate(zip(chunks, retain_chunks, strict=True)):
            mine = split(chunk, self.world)[self.rank]
            mine_retain = split(retain_chunk, self.world)[self.rank]
            last = index == len(chunks) - 1
            sync = nullcontext() if last or self.world == 1 else self.module.no_sync()  # type: ignore[operator]
            with sync:
                if not mine:  # this process got no row: it still joins the gradient all-reduce
                    zero = sum((p * 0).sum() for p in self.model.parameters() if p.requires_grad)
                    zero.backward()  # type: ignore[union-attr]
                    continue
                rows = [picked[k] for k in mine]
                row_weights = weights[mine] if weights is not None else None
                batch = self._batch(rows, mine_retain, row_weights)
                with autocast:
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
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            norm = torch.nn.utils.clip_grad_norm_(trainable, self.config.max_grad_norm)
            sums["grad_norm"] = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        sums["lr"] = self.scheduler.get_last_lr()[0]
        sums["rows"] = float(total)
        return sums

    # --- scoring and stopping -----------------------------------------------------------------

    def _score_due(self, epoch_before: int) -> bool:
        settings = self.config.drive
        if settings.score_every is not None and self.step % settings.score_every == 0:
            return True
        epoch = self.consumed // len(self.rows.forget)
        return settings.score_every_epochs is not None and (
            epoch // settings.score_every_epochs > epoch_before // settings.score_every_epochs
        )

    def score(self, step: int) -> pa.Table:
        """Score the forget set at `step` into the ledger, sharded across processes; the holdout
        too at the first scoring (the thresholds) or with `drive.rescore_holdout`."""
        settings = self.config.drive
        samples = list(self.forget_samples)
        if self.ledger is None or settings.rescore_holdout:
            samples += self.holdout
        mine = samples[self.rank :: self.world]
        self.model.eval()
        table = score_to_ledger(self.model, self.tokenizer, mine, step, settings.batch_size,
                                tuple(settings.metrics))  # fmt: skip
        self.train_mode()
        if self.world > 1:
            parts: list[pa.Table | None] = [None] * self.world
            dist.all_gather_object(parts, table)
            table = pa.concat_tables([p for p in parts if p is not None])
        self.ledger = append(self.ledger, table)
        return table

    @torch.no_grad()
    def retain_loss(self) -> float:
        count = self.config.drive.guard_rows
        rows, starts = self.rows.retain[:count], self.rows.retain_starts[:count]
        if not rows:
            raise ValueError("the utility guard needs retain samples")
        self.model.eval()
        loss = float(sequence_nll(self.model, pad_right(rows, self.pad, starts)).mean())
        self.train_mode()
        return loss

    def train_mode(self) -> None:
        """Training mode with the model's dropout, or eval mode (no dropout) when it is off."""
        self.model.train(self.config.dropout)

    def _after_scoring(self, values: dict[str, float]) -> str:
        """Log the ledger's figures for this step; the stopping rule that holds, or ''."""
        settings, ledger = self.config.drive, self.ledger
        assert ledger is not None
        forget_now = drive.latest(ledger, settings.metric)
        values[f"forget_{settings.metric}"] = sum(forget_now.values()) / len(forget_now)
        left = drive.remaining(ledger, settings.metric, settings.threshold, settings.quantile)
        values["outliers"] = float(len(left))
        if self.guard is not None:
            retain = self.retain_loss()
            values["guard_retain_loss"] = retain
            best_before = self.guard.best_step
            broke = self.guard.record(self.step, retain, values[f"forget_{settings.metric}"])
            if self.guard.best_step != best_before and self.checkpoint_dir is not None:
                checkpoints.save_best(self.checkpoint_dir, self.model, self.step, self.rank)
            elif self.guard.best_step != best_before:
                self.best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
            if broke:
                return "guard"
        if settings.stop_aggregate and drive.aggregate_done(ledger, settings.stop_aggregate):
            return "aggregate"
        if settings.stop_per_sample and not left:
            return "per_sample"
        return ""

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> TrainingResult:
        self.best_state: dict[str, torch.Tensor] | None = None
        resumed = self.checkpoint_dir is not None and checkpoints.resume(self)
        if not resumed and self.config.drive.scores and self.ledger is None:
            self.score(0)
        if not resumed and self.guard is not None:
            self._after_scoring({})  # the guard's starting retain loss and first checkpoint
        self.train_mode()
        while not self.stopped_by:
            if self.step >= self.max_steps:
                by_steps = self.config.steps is not None and self.max_steps == self.config.steps
                self.stopped_by = "steps" if by_steps else "epochs"
                break
            epoch_before = self.consumed // len(self.rows.forget)
            self.step += 1
            values = self._train_step()
            values["epoch"] = self.consumed / len(self.rows.forget)
            if self.config.drive.scores and self._score_due(epoch_before):
                self.score(self.step)
                self.stopped_by = self._after_scoring(values)
            log = StepLog(self.step, values)
            self.logs.append(log)
            every = self.config.checkpoint_every
            if self.checkpoint_dir is not None and every and self.step % every == 0:
                checkpoints.save(self)
            for hook in self.hooks:
                hook(log)
        self.model.eval()
        best = self.guard.best_step if self.guard is not None else None
        if best is not None and best != self.step:
            self._restore_best()
        history = self.guard.history if self.guard is not None else []
        return TrainingResult(self.logs, self.ledger, self.step, self.stopped_by, best, self.model,
                              history)  # fmt: skip

    def _restore_best(self) -> None:
        if self.checkpoint_dir is not None:
            checkpoints.load_best(self.checkpoint_dir, self.model)
        elif self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def unlearn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    method: BaseModel,
    config: TrainingConfig,
    seed: int,
    forget: Sequence[Sample],
    retain: Sequence[Sample] = (),
    holdout: Sequence[Sample] = (),
    twins: Sequence[str | None] = (),
    ledger: pa.Table | None = None,
    checkpoint_dir: Path | None = None,
    hooks: Sequence[Callable[[StepLog], None]] = (),
) -> TrainingResult:
    """Train `model` (in place; under LoRA, an adapter on it: see `result.model`) with `method`.

    `twins[i]` is the anti-sample text of `forget[i]` (or None). `ledger` holds the scores before
    training (step 0); without one the loop scores step 0 itself when the drive needs it. With
    `checkpoint_dir`, a run resumes from the last checkpoint there (same config and data).
    """
    trainer = UnlearningLoop(model, tokenizer, method, config, seed, forget, retain, holdout, twins,
                      ledger, checkpoint_dir, hooks)  # fmt: skip
    return trainer.run()
