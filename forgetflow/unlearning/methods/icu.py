"""ICU, "Learn while Unlearn: An Iterative Unlearning Framework for Generative Language Models"
(Tang et al., arXiv 2407.20271): gradient ascent on the forget samples, while learning, for each,
its analogous sample (its nearest neighbour by sentence embedding among rows the model may keep)
and keeping the model's distributions on those close to the original's:

    loss = -NLL(forget, flagged) + alpha NLL(analogous, flagged)
           + beta KL(p_original || p_theta)(analogous, flagged),   alpha 0.5, beta 1.0

and, after every epoch, the iterative refinement: each forget sample's prompt is continued by the
model (beam 2, 50 tokens) and scored against its true suffix by BLEU and embedding cosine; a
sample whose scores no longer both reach their thresholds is unflagged (it and its analogue
weigh 0 in the loss; a later epoch may flag it again). Training stops once no sample is flagged,
or when the forget set's mean MA is below the stopping threshold (the loop's aggregate stop).

The original's distributions on the analogous rows are computed once before the first step: the
top `kl_top_k` tokens at each position and one bucket for the rest of the vocabulary (a true KL,
the full one when k >= the vocabulary: terms.topk_kl); no second model stays resident.

Deviations from the published code (`himalalps/ICU`):
- the refinement's similarity is the cosine of MiniLM sentence embeddings (`forgetflow models
  pull minilm-l6-v2`; without it, the target model's mean hidden state, named as such in the
  run), not BERTScore-F1 (it needs a BERT checkpoint no package ships here); both thresholds are
  calibrated as the holdout's 95th percentile under the model before unlearning (`thresholds:
  paper` for ICU's BLEU 0.01 and 0.3, which is on BERTScore's scale);
- the analogous pool is the stage's retain rows (never the holdout, the forget set or general
  text), not the Extraction Challenge's 15k sequences;
- unflagged rows weigh 0 in the loss (the same gradient as leaving the batch, which ICU's flag
  multiplies), and the KL is taken over the rows' real tokens, not their padding;
- the stop is the pipeline's aggregate rule on MA (ICU: mean MA < 0.5994 and an EL_10 below
  0.0499), or no flag left, as ICU; `stop: per_sample` (not ICU's) stops instead once no forget
  sample is an outlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import Field
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import sequence_nll
from forgetflow.models.embedder import pulled_embedder
from forgetflow.records import LossOutput
from forgetflow.unlearning.analogous import CandidatePool, analogous_set, choose_embedding
from forgetflow.unlearning.methods.batch import AUXILIARY_TOPK, UnlearningBatch, weighted_mean
from forgetflow.unlearning.methods.registry import METHODS, LossMethod
from forgetflow.unlearning.methods.sga import below_line
from forgetflow.unlearning.methods.stopping import drive, epoch_ended, guard, scored
from forgetflow.unlearning.methods.terms import MethodSettings, combine, topk_kl
from forgetflow.unlearning.procedure import ProcedureContext, ProcedureError, Stop
from forgetflow.unlearning.refinement import (
    PAPER_THRESHOLDS,
    RefinementScores,
    RefinementThresholds,
    calibrate,
    flags,
    score_refinement,
)
from forgetflow.unlearning.state import LoopState, StepLog, TrainingResult

ANALOGOUS = "analogous"  # the auxiliary set of analogous rows, one per forget sample
FLAGS = "icu_flags"  # state.extra's key: the ids of the samples still flagged


class IcuConfig(MethodSettings):
    name: Literal["icu"] = Field(
        "icu", description="ICU (Tang et al., 'Learn while Unlearn'): ascent on the forget "
        "samples, learning their analogous samples with a KL to the original, refined per "
        "sample every epoch",
    )  # fmt: skip
    alpha: float = Field(0.5, ge=0.0, description="weight of the analogous rows' NLL (ICU's 0.5)")
    beta: float = Field(
        1.0, ge=0.0, description="weight of KL(original || current) on the analogous rows "
        "(ICU's 1.0)",
    )  # fmt: skip
    kl_top_k: int = Field(
        32, ge=1, description="the original's tokens kept per analogous position (the top k and "
        "one bucket for the rest; the full KL when k >= the vocabulary size)",
    )  # fmt: skip
    refinement: bool = Field(
        True, description="re-score every forget sample after each epoch and leave out those no "
        "longer memorized (ICU's IUR); false: every sample every epoch",
    )  # fmt: skip
    thresholds: Literal["holdout", "paper"] = Field(
        "holdout", description="the refinement's BLEU and cosine thresholds: holdout: the "
        "holdout's 0.95 quantile under the model before unlearning; paper: ICU's 0.01 and 0.3",
    )  # fmt: skip
    embedder: Literal["minilm", "model"] = Field(
        "minilm", description="the analogous set's and the cosine's embeddings: minilm: the "
        "pulled all-MiniLM-L6-v2 (the model's own where it was not pulled); model: the target "
        "model's mean hidden state",
    )  # fmt: skip
    refine_batch: int = Field(8, ge=1, description="prompts per beam-search batch of refinement")
    stop: Literal["aggregate", "per_sample"] = Field(
        "aggregate", description="besides no flag left: aggregate: stop when the forget set's "
        "mean falls below the stopping threshold (ICU's); per_sample: when no forget sample is "
        "an outlier any more (the outlier rule, as SGA's per-sample stop)",
    )  # fmt: skip
    stop_threshold: float | None = Field(
        None, description="under the aggregate stop, a fixed threshold of the forget set's mean "
        "(ICU's MA 0.5994); null: the pipeline's stopping rule on the holdout (thresholds.stop)",
    )  # fmt: skip


def icu_loss(config: IcuConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """-wmean(NLL(forget)) + alpha wmean(NLL(analogous)) + beta wmean(KL(ref || theta)(analogous)),
    each row weighted by its flag (batch.weights; None: every row 1)."""
    nll = sequence_nll(model, batch.forget)
    weights, analogous = batch.weights, batch.auxiliary.get(ANALOGOUS)
    learn = kl = None
    if analogous is not None and config.alpha:
        learn = weighted_mean(sequence_nll(model, analogous), weights)
    if analogous is not None and config.beta:
        reference = batch.reference.auxiliary_topk if batch.reference is not None else None
        if reference is None or ANALOGOUS not in reference:
            raise ProcedureError("icu: the batch has no reference top-k on the analogous rows")
        kl = weighted_mean(topk_kl(model, analogous, reference[ANALOGOUS]), weights)
    return combine(nll, [("forget_loss", 1.0, -weighted_mean(nll, weights)),
                         ("analogous_nll", config.alpha, learn),
                         ("analogous_kl", config.beta, kl)])  # fmt: skip


def needs(config: IcuConfig) -> frozenset[str]:
    return frozenset({AUXILIARY_TOPK}) if config.beta else frozenset()


LOSS = LossMethod(IcuConfig, icu_loss, needs)


class Refinement:
    """ICU's per-epoch flags: `weigh` reads them from the run's state, `stop` renews them."""

    def __init__(self, context: ProcedureContext, config: IcuConfig, embed) -> None:  # noqa: ANN001
        self.context, self.config, self.embed = context, config, embed
        self.thresholds = self.calibrated()
        self.initial = self.flagged(self.score(context.inputs.forget))

    def score(self, samples: Sequence) -> RefinementScores:
        return score_refinement(self.context.model, self.context.tokenizer, samples, self.embed,
                                self.config.refine_batch)  # fmt: skip

    def calibrated(self) -> RefinementThresholds:
        if self.config.thresholds == "paper":
            return PAPER_THRESHOLDS
        return calibrate(self.score(self.context.inputs.holdout))

    def flagged(self, scores: RefinementScores) -> list[str]:
        return sorted(i for i, flag in flags(scores, self.thresholds).items() if flag)

    def weigh(self, state: LoopState, ids: Sequence[str]) -> torch.Tensor:
        held = set(state.extra.get(FLAGS, self.initial))
        return torch.tensor([1.0 if i in held else 0.0 for i in ids])

    def stop(self, log: StepLog) -> str:
        """After each epoch: renew the flags; 'no_flags' once none is left."""
        if not epoch_ended(self.context, log):
            return ""
        scores = self.score(self.context.inputs.forget)
        held = self.flagged(scores)
        self.context.state.extra[FLAGS] = held
        bleu, cosine = scores.bleu.values(), scores.cosine.values()
        log.values.update({"icu_flagged": float(len(held)), "icu_bleu_mean": sum(bleu) / len(bleu),
                           "icu_cosine_mean": sum(cosine) / len(cosine)})  # fmt: skip
        return "" if held else "no_flags"


@METHODS.register("icu", config=IcuConfig, kind="procedure")
def run(config: IcuConfig, context: ProcedureContext) -> TrainingResult:
    """One loop run of ICU's loss, flags renewed after each epoch."""
    inputs = context.inputs
    scored(context)
    embedder = pulled_embedder() if config.embedder == "minilm" else None
    embedding = choose_embedding(context.model, context.tokenizer, embedder)
    pool = CandidatePool(inputs.retain, excluded=[*inputs.holdout, *inputs.guard])
    analogous = analogous_set(inputs.forget, pool, embedding)
    refinement = Refinement(context, config, embedding.encoder) if config.refinement else None
    figures = {"icu_embedder_minilm": float(embedder is not None)}
    if refinement is not None:
        figures |= {"icu_flagged": float(len(refinement.initial)),
                    "icu_bleu_threshold": refinement.thresholds.bleu,
                    "icu_cosine_threshold": refinement.thresholds.cosine}  # fmt: skip
    context.log(figures)
    if refinement is not None and not refinement.initial:
        return context.result("no_flags")
    result = context.train(
        config, {"drive": icu_drive(config, context)}, stops(config, context, refinement),
        loss=LOSS, auxiliary={ANALOGOUS: analogous.samples},
        weigh=refinement.weigh if refinement else None,
    )  # fmt: skip
    return context.result(result.stopped_by)


def icu_drive(config: IcuConfig, context: ProcedureContext) -> dict:
    """Scoring every epoch; the loop's per-sample stop, or its aggregate stop on the holdout's
    line unless the stop is a fixed threshold (`stops`)."""
    metric = context.inputs.config.drive.metric
    per_sample = config.stop == "per_sample"
    aggregate = [metric] if config.stop_threshold is None and not per_sample else []
    return drive(context, score_every=None, score_every_epochs=1, stop_aggregate=aggregate,
                 stop_per_sample=per_sample, **guard(context))  # fmt: skip


def stops(
    config: IcuConfig, context: ProcedureContext, refinement: Refinement | None
) -> Stop | None:
    """The run's stop: no flag left, or the mean below a fixed threshold."""
    rules = [refinement.stop] if refinement is not None else []
    if config.stop_threshold is not None and config.stop == "aggregate":
        rules.append(below_line(context, config.stop_threshold, "aggregate"))
    if not rules:
        return None
    return lambda log: next((reason for rule in rules if (reason := rule(log))), "")
