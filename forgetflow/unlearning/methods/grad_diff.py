"""GradDiff (Liu et al. 2022, "Continual Learning and Private Unlearning"): gradient ascent on
the forget rows, descent on the retain rows (NLL, or KL to the reference model), plus the
anti-sample NLL term."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import sequence_nll
from forgetflow.records import LossOutput
from forgetflow.unlearning.methods.batch import UnlearningBatch, weighted_mean
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.terms import (
    RetainChoiceSettings,
    antisample_term,
    combine,
    retain_needs,
    retain_term,
)


class GradDiffConfig(RetainChoiceSettings):
    name: Literal["grad_diff"] = Field(
        "grad_diff", description="GradDiff (Liu et al. 2022): ascent on the forget rows, "
        "descent on the retain rows",
    )  # fmt: skip
    forget_weight: float = Field(
        1.0, ge=0.0, description="weight of the forget term (ascent on the forget NLL); 1: as "
        "the paper",
    )  # fmt: skip


def needs(config: GradDiffConfig) -> frozenset[str]:
    return retain_needs(config.retain_loss)


@METHODS.register("grad_diff", config=GradDiffConfig, needs=needs)
def loss(config: GradDiffConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """-w_f * weighted_mean(NLL(forget)) + w_r * R(retain) + w_a * mean NLL(anti-samples), with R
    the mean retain NLL or the mean top-k KL(p_ref || p_theta) per retain token."""
    nll = sequence_nll(model, batch.forget)  # (B,)
    return combine(
        nll,
        [
            ("forget_loss", config.forget_weight, -weighted_mean(nll, batch.weights)),
            retain_term(model, batch, config.retain_weight, config.retain_loss),
            antisample_term(model, batch, config.antisample_weight),
        ],
    )
