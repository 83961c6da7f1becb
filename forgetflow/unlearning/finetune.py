"""Fine-tuning by descent: the loop with the forget rows' NLL as its loss, so the model learns
the forget set (task arithmetic's theta_ft). Procedures run it (`ProcedureContext.finetune`); it
is not a registered method, since on its own it unlearns nothing."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import sequence_nll
from forgetflow.records import LossOutput
from forgetflow.unlearning.methods.batch import UnlearningBatch, weighted_mean
from forgetflow.unlearning.methods.registry import LossMethod
from forgetflow.unlearning.methods.terms import combine


class FinetuneConfig(BaseModel):
    """Descent on the forget rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["finetune"] = "finetune"


def descent(config: FinetuneConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """weighted_mean(NLL(forget))."""
    nll = sequence_nll(model, batch.forget)  # (B,)
    return combine(nll, [("finetune_nll", 1.0, weighted_mean(nll, batch.weights))])


DESCENT = LossMethod(FinetuneConfig, descent)
