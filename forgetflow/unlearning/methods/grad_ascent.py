"""GradAscent (Jang et al. 2022, "Knowledge Unlearning for Mitigating Privacy Risks in Language
Models"): gradient ascent on the forget rows' NLL, plus the anti-sample NLL term."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import sequence_nll
from forgetflow.records import LossOutput
from forgetflow.unlearning.methods.batch import UnlearningBatch, weighted_mean
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.terms import MethodSettings, antisample_term, combine


class GradAscentConfig(MethodSettings):
    name: Literal["grad_ascent"] = Field(
        "grad_ascent", description="GradAscent (Jang et al. 2022): ascent on the forget NLL"
    )


@METHODS.register("grad_ascent", config=GradAscentConfig)
def loss(config: GradAscentConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """-weighted_mean(NLL(forget)) + w_a * mean NLL(anti-samples)."""
    nll = sequence_nll(model, batch.forget)  # (B,)
    return combine(
        nll,
        [
            ("forget_loss", 1.0, -weighted_mean(nll, batch.weights)),
            antisample_term(model, batch, config.antisample_weight),
        ],
    )
