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
ADAM_BETAS = (0.9, 0.999)  # torch's


class LoraSettings(BaseModel):
    """Train a LoRA adapter (peft) instead of every weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int = Field(8, ge=1, description="rank r of each adapter's low-rank update")
    alpha: int = Field(
        16, ge=1, description="LoRA scaling numerator: the update is scaled by alpha / rank (16 "
        "over rank 8: 2)",
    )  # fmt: skip
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout probability on the adapter's input (0: none)"
    )
    target_modules: list[str] | None = Field(
        None, description="module names to adapt; null: peft's default modules for the "
        "architecture",
    )  # fmt: skip
    save: Literal["merged", "adapter"] = Field(
        "merged", description="merged: save the base weights with the adapter merged in; "
        "adapter: save the adapter alone (it loads anywhere a model does, onto its base)",
    )  # fmt: skip


class DriveConfig(BaseModel):
    """How the memorization ledger drives training (thresholds: the holdout at the first step,
    under the pipeline's `thresholds` rules)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_every: int | None = Field(
        None, ge=1, description="score the forget set (and the holdout) into the ledger every "
        "this many optimizer steps, and before the first; null: not by steps",
    )  # fmt: skip
    score_every_epochs: int | None = Field(
        None, ge=1, description="or every this many passes over the forget set; null: not by "
        "epochs (neither set: the loop never scores, and nothing below applies)",
    )  # fmt: skip
    metrics: list[str] = Field(
        ["ma"], description="the memorization metrics each scoring adds to the ledger (names as "
        "in scoring.metrics; default: MA alone)",
    )  # fmt: skip
    metric: str = Field(
        "ma", description="the metric that selection, memorization weights, the per-sample stop "
        "and the guard's best checkpoint judge by; one of `metrics`",
    )  # fmt: skip
    select: bool = Field(
        False, description="true: train only on forget samples still beyond the outlier "
        "threshold (thresholds.outliers); false: on every forget sample",
    )  # fmt: skip
    select_threshold: float | None = Field(
        None, description="under select: a fixed threshold of `metric` in place of the outlier "
        "rule's, samples at it or beyond train (SGA's gamma: MA >= 0.70); null: the outlier "
        "threshold",
    )  # fmt: skip
    weights: Literal["uniform", "memorization"] = Field(
        "uniform", description="uniform: every forget row's loss weighs the same; memorization: "
        "each row's loss is weighted by how memorized the sample is (mean weight 1)",
    )  # fmt: skip
    stop_aggregate: list[str] = Field(
        [], description="stop once the forget mean of each of these metrics (e.g. ma, el_10) is "
        "below its threshold under the stopping rule (thresholds.stop); []: no such stop",
    )  # fmt: skip
    stop_per_sample: bool = Field(
        False, description="true: stop once no forget sample is beyond the outlier threshold "
        "(thresholds.outliers); false: no such stop",
    )  # fmt: skip
    guard_margin: float | None = Field(
        None, gt=0.0, description="utility guard: stop once the mean NLL (nats per token) of "
        "general text's guard half (never trained on, never the rows a method descends on) rose "
        "by more than this above its first scoring's, and end with the best "
        "checkpoint (the least memorized scored step within the margin); null: no guard",
    )  # fmt: skip
    guard_rows: int = Field(
        32, ge=1, description="guard-half passages (or their windows) the utility guard measures"
    )
    batch_size: int = Field(
        8, ge=1, description="rows per forward pass when the loop scores the ledger (a speed "
        "setting, not the training batch: training.batch_size; 8 was fastest for MA of 240-token "
        "records on 2 cores, 32 was 35% slower)",
    )  # fmt: skip
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="precision of the ledger's scoring passes: bfloat16 autocasts "
        "them (MA of the small world's forget set: 35% faster, within 0.0005 of float32 on "
        "average); training's precision is training.dtype",
    )  # fmt: skip
    rescore_holdout: bool = Field(
        False, description="true: score the holdout at every scoring too (logged; thresholds "
        "still use the first scoring's); false: the holdout is scored once, before training",
    )  # fmt: skip

    @model_validator(mode="after")
    def consistent(self) -> DriveConfig:
        parse_metrics([*self.metrics, self.metric, *self.stop_aggregate])
        missing = {self.metric, *self.stop_aggregate} - set(self.metrics)
        if missing and self.scores:
            raise ValueError(f"{sorted(missing)} must be among the scored metrics {self.metrics}")
        if self.uses_ledger and not self.scores:
            raise ValueError("selection, memorization weights and ledger stops need score_every")
        if self.select_threshold is not None and not self.select:
            raise ValueError("select_threshold applies under select: set select true too")
        return self

    @property
    def scores(self) -> bool:
        return self.score_every is not None or self.score_every_epochs is not None

    @property
    def uses_ledger(self) -> bool:
        return (self.select or self.weights == "memorization" or bool(self.stop_aggregate)
                or self.stop_per_sample or self.guard_margin is not None)  # fmt: skip


class TrainingConfig(BaseModel):
    """The unlearning loop: its budget, optimizer, precision, reference model and checkpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int | None = Field(
        None, ge=1, description="most optimizer steps (40 when neither steps nor epochs is set; "
        "with both, whichever ends first)",
    )  # fmt: skip
    epochs: float | None = Field(
        None, gt=0, description="most passes over the forget set (fractions allowed); null: "
        "bounded by steps alone",
    )  # fmt: skip
    lr: float = Field(1e-3, gt=0.0, description="peak learning rate of the optimizer")
    batch_size: int = Field(
        8, ge=1, description="forget rows per optimizer step (and as many retain rows), split "
        "into grad_accum micro-batches; not the scoring batch (drive.batch_size)",
    )  # fmt: skip
    grad_accum: int = Field(
        1, ge=1, description="micro-batches each optimizer step's batch_size rows are split "
        "into (same gradient, less memory; batch_size must divide evenly); 1: no split",
    )  # fmt: skip
    optimizer: Literal["adamw", "adam", "sgd"] = Field(
        "adamw", description="the optimizer (adamw and adam: torch's fused kernels)"
    )
    weight_decay: float = Field(
        0.0, ge=0.0, description="the optimizer's weight decay coefficient (0: none)"
    )
    betas: tuple[float, float] = Field(
        ADAM_BETAS, description="adam's and adamw's (beta1, beta2): decay rates of the "
        "gradient's running mean and of its square's; torch's default (0.9, 0.999); the seed "
        "papers (KU, SGA, TA, ICU) train with (0.9, 0.98)",
    )  # fmt: skip
    max_grad_norm: float | None = Field(
        1.0, gt=0.0, description="clip the gradient's global L2 norm to this; null: no clipping"
    )
    schedule: Literal["constant", "linear", "cosine"] = Field(
        "constant", description="the learning rate after warmup: constant at lr, or decaying "
        "linearly or by a cosine to 0 at the last step",
    )  # fmt: skip
    warmup_steps: int = Field(
        0, ge=0, description="optimizer steps of linear warmup from 0 to lr under the linear "
        "and cosine schedules (constant ignores it); 0: none",
    )  # fmt: skip
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="precision of the training forward passes: bfloat16 autocasts "
        "them over float32 master weights; float32: no autocast",
    )  # fmt: skip
    dropout: bool = Field(
        False, description="true: train with the model's dropout; false: deterministic steps "
        "that gradient accumulation and processes split exactly",
    )  # fmt: skip
    reference: Literal["cached", "resident"] = Field(
        "cached", description="how methods with a reference model (NPO, IdkDPO, KL retain) get "
        "its values: cached: computed once before the first step; resident: a frozen copy of "
        "the model kept in memory",
    )  # fmt: skip
    lora: LoraSettings | None = Field(
        None, description="train a LoRA adapter instead of every weight; null: full fine-tuning"
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="save a resumable checkpoint every this many optimizer steps; "
        "null: none",
    )  # fmt: skip
    drive: DriveConfig = Field(
        DriveConfig(), description="how the memorization ledger steers training (selection, "
        "weights, stops, guard); default: not at all",
    )  # fmt: skip

    @model_validator(mode="after")
    def bounded(self) -> TrainingConfig:
        if self.steps is None and self.epochs is None:
            object.__setattr__(self, "steps", DEFAULT_STEPS)
        if not all(0.0 <= beta < 1.0 for beta in self.betas):
            raise ValueError(f"betas {list(self.betas)}: each must be in [0, 1)")
        if self.optimizer == "sgd" and self.betas != ADAM_BETAS:
            raise ValueError("betas set Adam's running averages: use optimizer adam or adamw, "
                             "or leave betas at their default")  # fmt: skip
        return self


# every registered method's config, by `name` (the Prefect form lists each)
MethodConfig = method_config_union()


class UnlearningConfig(BaseModel):
    """The unlearning stage: a method (its loss) run by one training loop."""

    model_config = ConfigDict(extra="forbid")

    method: MethodConfig = Field(
        GradDiffConfig(), description="the method by name (grad_ascent, grad_diff, npo, simnpo, "
        "idk_dpo; the procedures sga, ta, tau, icu, unstar) and its settings; default: GradDiff "
        "with its paper's weights",
    )  # fmt: skip
    training: TrainingConfig = Field(
        TrainingConfig(), description="the training loop's settings, the same for every method"
    )

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
    return adam(
        params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay, fused=True
    )


def apply_lora(model: PreTrainedModel, settings: LoraSettings) -> PreTrainedModel:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=settings.target_modules, task_type="CAUSAL_LM")  # fmt: skip
    return get_peft_model(model, config)  # type: ignore[return-value]
