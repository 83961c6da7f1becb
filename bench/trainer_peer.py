"""The peer of bench/training.py's step-speed part: an HF `Trainer` doing forgetflow's gradient
ascent (the same loss, optimizer, clipping and rows), timed step by step by a callback."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import PreTrainedModel, Trainer, TrainerCallback, TrainingArguments

from forgetflow.lm.logprobs import sequence_nll
from forgetflow.lm.tokens import TokenBatch


class AscentTrainer(Trainer):
    """Gradient ascent: minus the mean token NLL of the rows (forgetflow's grad_ascent loss)."""

    losses: list[float]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201, FBT002 - Trainer's signature
        batch = TokenBatch(inputs["input_ids"], inputs["attention_mask"])
        loss = -sequence_nll(model, batch).mean()
        self.losses.append(loss.item())  # as forgetflow's loss logs it
        return (loss, None) if return_outputs else loss


class StepClock(TrainerCallback):
    def __init__(self) -> None:
        self.begins: list[float] = []
        self.ends: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs) -> None:  # noqa: ANN001, ANN003
        self.begins.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kwargs) -> None:  # noqa: ANN001, ANN003
        self.ends.append(time.perf_counter())


def trainer_steps(
    model: PreTrainedModel, ids: torch.Tensor, steps: int, lr: float, optim: str, scratch: Path
) -> tuple[StepClock, list[float]]:
    """The Trainer's step clock and each step's loss."""
    rows = [{"input_ids": row, "attention_mask": torch.ones_like(row)} for row in ids]
    args = TrainingArguments(
        output_dir=str(scratch), max_steps=steps, per_device_train_batch_size=len(rows),
        learning_rate=lr, lr_scheduler_type="constant", weight_decay=0.0,
        max_grad_norm=1.0, optim=optim, report_to=[], logging_strategy="no", save_strategy="no",
        eval_strategy="no", use_cpu=True, dataloader_num_workers=0, dataloader_pin_memory=False,
        disable_tqdm=True, seed=0, train_sampling_strategy="sequential",
    )  # fmt: skip
    clock = StepClock()
    # the 8 rows in every step (a sequential sampler over 8 x steps rows), all in one epoch
    trainer = AscentTrainer(model=model, args=args, train_dataset=rows * steps, callbacks=[clock])
    trainer.losses = []
    trainer.train()
    model.eval()
    return clock, trainer.losses


def update_cosine(base: PreTrainedModel, a: PreTrainedModel, b: PreTrainedModel) -> float:
    """Cosine of the two runs' weight updates (all parameters as one vector)."""
    dot = norm_a = norm_b = 0.0
    for p0, pa, pb in zip(base.parameters(), a.parameters(), b.parameters(), strict=True):
        da, db = (pa - p0).double(), (pb - p0).double()
        dot += (da * db).sum().item()
        norm_a += da.square().sum().item()
        norm_b += db.square().sum().item()
    return round(dot / max((norm_a * norm_b) ** 0.5, 1e-300), 6)
