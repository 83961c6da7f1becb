"""NPO (Zhang et al. 2024, "Negative Preference Optimization: From Catastrophic Collapse to
Effective Unlearning"), on the sequence log-prob ratio to the reference model, with the optional
retain term of NPO+RT and the anti-sample NLL term."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from transformers import PreTrainedModel

from forgetflow.records import LossOutput
from forgetflow.unlearning.methods.batch import FORGET_LOGP, UnlearningBatch, weighted_mean
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.terms import (
    RetainChoiceSettings,
    antisample_term,
    combine,
    reference_logp,
    retain_needs,
    retain_term,
    sequence_scores,
)


class NPOConfig(RetainChoiceSettings):
    name: Literal["npo"] = Field(
        "npo", description="NPO (Zhang et al. 2024), with the retain term of NPO+RT"
    )
    beta: float = Field(
        0.1, gt=0.0, description="inverse temperature on the log-prob ratio to the reference; "
        "smaller: closer to gradient ascent",
    )  # fmt: skip


def needs(config: NPOConfig) -> frozenset[str]:
    return frozenset({FORGET_LOGP}) | retain_needs(config.retain_loss)


@METHODS.register("npo", config=NPOConfig, needs=needs)
def loss(config: NPOConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """-(2/beta) * weighted_mean(log sigmoid(-beta * (log p_theta(y) - log p_ref(y)))) over the
    forget rows y (summed sequence log-probs), + w_r * R(retain) + w_a * mean NLL(anti-samples),
    R the mean retain NLL or top-k KL(p_ref || p_theta) as in GradDiff. It is (2/beta) log 2 while
    the model equals the reference."""
    logp, nll = sequence_scores(model, batch.forget)  # (B,) each
    ratio = logp - reference_logp(batch, FORGET_LOGP).to(logp.device, logp.dtype)  # (B,)
    forget = -(2.0 / config.beta) * weighted_mean(F.logsigmoid(-config.beta * ratio), batch.weights)
    return combine(
        nll,
        [
            ("forget_loss", 1.0, forget),
            retain_term(model, batch, config.retain_weight, config.retain_loss),
            antisample_term(model, batch, config.antisample_weight),
        ],
    )
