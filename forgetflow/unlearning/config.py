"""The unlearning stage's settings (`unlearning:` in a pipeline config: UnlearningConfig, its
method and its TrainingConfig, with DriveConfig and LoraSettings) and what they build: the
optimizer and the LoRA wrapper."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from transformers import PreTrainedModel

from forgetflow.memorization.metrics import parse_metrics
from forgetflow.unlearning.methods.grad_diff import GradDiffConfig
from forgetflow.unlearning.methods.registry import method_config_union

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
    """How the memorization ledger drives training (thresholds: the holdout at the first step,
    under the pipeline's `thresholds` rules)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_every: int | None = Field(None, ge=1, description="score every this many steps")
    score_every_epochs: int | None = Field(None, ge=1, description="or every this many epochs")
    metrics: list[str] = Field(["ma"], description="what each scoring adds to the ledger")
    metric: str = Field("ma", description="the metric selection, weights and stops judge by")
    select: bool = Field(
        False, description="train only on samples still beyond the outlier threshold"
    )
    weights: Literal["uniform", "memorization"] = "uniform"
    stop_aggregate: list[str] = Field(
        [], description="stop once the forget mean of each of these (e.g. ma, el_10) is below "
        "its threshold under the stopping rule (the holdout mean, as Jang et al.)",
    )  # fmt: skip
    stop_per_sample: bool = Field(
        False, description="stop once no sample is beyond the outlier threshold"
    )
    guard_margin: float | None = Field(
        None, gt=0.0, description="utility guard: stop when the retain loss rises by more than "
        "this, and keep the best checkpoint",
    )  # fmt: skip
    guard_rows: int = Field(32, ge=1, description="retain rows the guard's loss is measured on")
    batch_size: int = Field(
        8, ge=1, description="rows per scoring forward pass (8: fastest here for MA of 240-token "
        "records on 2 cores, 32 was 35% slower)",
    )  # fmt: skip
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="bfloat16: autocast the scoring passes (MA of the small world's "
        "forget set: 35% faster, within 0.0005 of float32 on average)",
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


# every registered method's config, by `name` (the Prefect form lists each)
MethodConfig = method_config_union()


class UnlearningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: MethodConfig = Field(
        GradDiffConfig(), description="the method by name (grad_ascent, grad_diff, npo, simnpo, "
        "idk_dpo) and its settings",
    )  # fmt: skip
    training: TrainingConfig = TrainingConfig()

    @field_validator("method", mode="before")
    @classmethod
    def grad_diff_by_default(cls, method: object) -> object:
        """A method without a name is GradDiff (configs written before the other methods)."""
        if isinstance(method, dict) and "name" not in method:
            return {"name": "grad_diff", **method}
        return method


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
