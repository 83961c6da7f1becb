"""IdkDPO: DPO (Rafailov et al. 2023, "Direct Preference Optimization") with an "I don't know"
style answer preferred over the forget text (the TOFU / OpenUnlearning convention, Maini et al.
2024), plus the optional retain NLL term and the anti-sample NLL term."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm.logprobs import sequence_logprob
from forgetflow.lm.prompts import prompt_texts
from forgetflow.records import LossOutput, Sample
from forgetflow.unlearning.methods.batch import (
    FORGET_LOGP,
    PREFERRED,
    PREFERRED_LOGP,
    UnlearningBatch,
    weighted_mean,
)
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.terms import (
    MissingNeedError,
    RetainSettings,
    antisample_term,
    combine,
    reference_logp,
    retain_term,
    sequence_scores,
)

REFUSALS = (
    "I don't know.",
    "I'm not sure I can answer that.",
    "I have no information about that.",
    "I can't help with that.",
    "That is not something I know.",
    "I'm afraid I don't have that information.",
    "I have no idea.",
    "Sorry, I can't recall that.",
    "I am not able to answer that.",
    "That's beyond what I know.",
)


class IdkDPOConfig(RetainSettings):
    name: Literal["idk_dpo"] = Field(
        "idk_dpo", description="IdkDPO: DPO preferring an \"I don't know\" answer over the "
        "forget text (TOFU)",
    )  # fmt: skip
    beta: float = Field(
        0.1, gt=0.0, description="DPO's inverse temperature on the log-prob ratios to the "
        "reference; larger: a sharper preference for the refusal",
    )  # fmt: skip


def needs(config: IdkDPOConfig) -> frozenset[str]:
    return frozenset({FORGET_LOGP, PREFERRED, PREFERRED_LOGP})


def prompt_parts(tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]) -> list[str]:
    """What each preferred answer follows: the sample's prompt by the one prompt rule
    (lm/prompts.py), with a space added when it does not end in whitespace."""
    prompts = prompt_texts(tokenizer, samples)
    return [p if p[-1:].isspace() or not p else p + " " for p in prompts]


def preferred(
    config: IdkDPOConfig,
    samples: Sequence[Sample],
    seed: int,
    tokenizer: PreTrainedTokenizerBase,
) -> list[str]:
    """Per forget sample: its prompt part followed by a refusal drawn by random.Random(seed)."""
    rng = random.Random(seed)
    return [prompt + rng.choice(REFUSALS) for prompt in prompt_parts(tokenizer, samples)]


@METHODS.register("idk_dpo", config=IdkDPOConfig, needs=needs, preferred=preferred)
def loss(config: IdkDPOConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """-(2/beta) * weighted_mean(log sigmoid(beta * ((log p_theta(y_w) - log p_ref(y_w)) -
    (log p_theta(y_l) - log p_ref(y_l))))), y_w the preferred row and y_l the forget row (summed
    sequence log-probs), + w_r * mean NLL(retain) + w_a * mean NLL(anti-samples)."""
    if batch.preferred is None:
        raise MissingNeedError("idk_dpo needs batch.preferred: one preferred row per forget row")
    rejected, nll = sequence_scores(model, batch.forget)  # (B,) each
    chosen = sequence_logprob(model, batch.preferred)  # (B,)
    chosen_ref = reference_logp(batch, PREFERRED_LOGP).to(chosen.device, chosen.dtype)
    rejected_ref = reference_logp(batch, FORGET_LOGP).to(rejected.device, rejected.dtype)
    margin = (chosen - chosen_ref) - (rejected - rejected_ref)  # (B,)
    forget = -(2.0 / config.beta) * weighted_mean(F.logsigmoid(config.beta * margin), batch.weights)
    return combine(
        nll,
        [
            ("forget_loss", 1.0, forget),
            retain_term(model, batch, config.retain_weight),
            antisample_term(model, batch, config.antisample_weight),
        ],
    )
