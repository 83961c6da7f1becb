"""GradDiff: gradient ascent on the forget set, descent on the retain set (Liu et al. 2022),
plus an NLL term on anti-samples (falsified twins) when the anti-sample stage produced them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel

from forgetflow.lm import sequence_nll
from forgetflow.methods.batch import UnlearningBatch
from forgetflow.records import LossOutput


class GradDiffConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["grad_diff"] = "grad_diff"
    forget_weight: float = Field(1.0, ge=0.0)
    retain_weight: float = Field(1.0, ge=0.0)
    antisample_weight: float = Field(1.0, ge=0.0)


def loss(config: GradDiffConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """-w_f * NLL(forget) + w_r * NLL(retain) + w_a * NLL(anti-samples); each a batch mean."""
    forget_nll = sequence_nll(model, batch.forget).mean()
    total = -config.forget_weight * forget_nll
    logs = {"forget_nll": forget_nll.item()}
    if batch.retain is not None:
        retain_nll = sequence_nll(model, batch.retain).mean()
        total = total + config.retain_weight * retain_nll
        logs["retain_nll"] = retain_nll.item()
    if batch.antisamples is not None:
        anti_nll = sequence_nll(model, batch.antisamples).mean()
        total = total + config.antisample_weight * anti_nll
        logs["antisample_nll"] = anti_nll.item()
    logs["loss"] = total.item()
    return LossOutput(loss=total, logs=logs)
