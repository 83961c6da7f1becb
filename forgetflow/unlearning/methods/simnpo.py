"""SimNPO (Fan et al. 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for
LLM Unlearning"): NPO without a reference model, on the length-normalized log-prob with a reward
margin gamma, plus the optional retain NLL term and the anti-sample NLL term."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from transformers import PreTrainedModel

from forgetflow.lm.tokens import token_counts
from forgetflow.records import LossOutput
from forgetflow.unlearning.methods.batch import UnlearningBatch, weighted_mean
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.terms import (
    RetainSettings,
    antisample_term,
    combine,
    retain_term,
    sequence_scores,
)


class SimNPOConfig(RetainSettings):
    name: Literal["simnpo"] = Field(
        "simnpo", description="SimNPO (Fan et al. 2024): NPO without a reference model"
    )
    beta: float = Field(
        2.5, gt=0.0, description="inverse temperature on the length-normalized log-prob "
        "(log p(y) / tokens of y); larger: a sharper forget loss",
    )  # fmt: skip
    gamma: float = Field(
        0.0, description="reward margin gamma subtracted inside the sigmoid; 0: no "
        "margin",
    )  # fmt: skip


@METHODS.register("simnpo", config=SimNPOConfig)
def loss(config: SimNPOConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """-(2/beta) * weighted_mean(log sigmoid(-(beta/|y|) * log p_theta(y) - gamma)) over the
    forget rows y (|y| their scored tokens) + w_r * mean NLL(retain) + w_a * mean
    NLL(anti-samples)."""
    logp, nll = sequence_scores(model, batch.forget)  # (B,) each
    length = token_counts(batch.forget).to(logp.device, logp.dtype)  # (B,)
    margin = -(config.beta / length) * logp - config.gamma  # (B,)
    forget = -(2.0 / config.beta) * weighted_mean(F.logsigmoid(margin), batch.weights)
    return combine(
        nll,
        [
            ("forget_loss", 1.0, forget),
            retain_term(model, batch, config.retain_weight),
            antisample_term(model, batch, config.antisample_weight),
        ],
    )
