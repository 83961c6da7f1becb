"""UnSTAR (Sinha, Mandal, Kankanhalli, "UnSTAR: Unlearning with Self-Taught Anti-Sample
Reasoning for LLMs", TMLR 2025): unlearn a fact by fine-tuning on anti-samples (a paraphrased
question, a falsified answer and a misleading rationale), in rounds, the inverse of STaR.

Each round (papers.md 4.3, Algorithm 1): probe the current model on every active question
(greedy, 16 new tokens, `answer_given`); for each question it still answers, build an
anti-sample (the falsified answer paired with it, a rationale written for the pair) and drop it
if its text leaks the true answer (antisamples/leak_filter.py); train on the accepted ones
(NLL of "falsified answer. rationale" given the question, with the trained keep-probes, the
stage's retain rows, beside them), a LoRA adapter merged in at the round's end; questions the
model no longer answers leave the active set and fresh variants of the same type take their
place. It stops when `q_target` of the questions asked no longer get the answer, or after
`rounds`. Every probe, anti-sample and leak reason is a row of `unstar_rounds`.

Deviations from the published code (an MLX demo on one fact): questions and answers come from
the generator each role is given (the paper's: the target model writes all three); the probe
is greedy, not mlx's default sampling; training takes ceil(2 x accepted / batch_size) steps
(`steps_rule: paper` for 4 x |S| iterations) with the stage's optimizer, not a 75/25 split with
validation; the question variants are typed (rephrase, more specific, noisy, reversed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel

from forgetflow.antisamples.unstar.build import ROUNDS_SCHEMA
from forgetflow.antisamples.unstar.facts import AntiSample
from forgetflow.antisamples.unstar.pool import QuestionPool
from forgetflow.antisamples.unstar.probe import PROBE_TOKENS
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.round_zero import (
    FIRST_ROUND,
    RoundSettings,
    build_round,
    probe_model,
    probe_rows,
    write,
)
from forgetflow.antisamples.unstar.writers import RoleSettings, open_writers
from forgetflow.lm.logprobs import sequence_nll
from forgetflow.lm.prompts import QuestionStyle, question_style
from forgetflow.records import LossOutput, Sample
from forgetflow.unlearning.config import LoraSettings
from forgetflow.unlearning.methods.batch import UnlearningBatch
from forgetflow.unlearning.methods.registry import METHODS, LossMethod
from forgetflow.unlearning.methods.terms import combine, retain_term
from forgetflow.unlearning.procedure import ProcedureContext, ProcedureError
from forgetflow.unlearning.state import TrainingResult


class UnstarConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["unstar"] = Field(
        "unstar", description="UnSTAR (Sinha et al., TMLR 2025): rounds of anti-samples "
        "(paraphrased question, falsified answer, misleading rationale) for a facts request",
    )  # fmt: skip
    roles: RoleSettings = Field(
        RoleSettings(), description="the generator of each role (questions, answers, "
        "rationales); default: the target model writes all three, as the paper",
    )  # fmt: skip
    rationale: Literal["write", "none"] = Field(
        "write", description="write: each anti-sample carries a misleading rationale; none: the "
        "falsified answer alone (the rationale-free ablation)",
    )  # fmt: skip
    answer: Literal["falsified", "idk"] = Field(
        "falsified", description="falsified: a wrong answer of the same type; idk: \"I don't "
        "know\" in its place",
    )  # fmt: skip
    per_variant: int = Field(
        5, ge=1, description="active questions per target and variant type (4 types: 20 per "
        "target by default)",
    )  # fmt: skip
    rounds: int = Field(5, ge=1, description="most rounds of probe, anti-samples and training")
    q_target: float = Field(
        0.9, gt=0.0, le=1.0, description="stop when this share of the questions asked no "
        "longer get the true answer",
    )  # fmt: skip
    probe_tokens: int = Field(PROBE_TOKENS, ge=1, description="new tokens of each probe answer")
    retain_weight: float = Field(
        1.0, ge=0.0, description="weight of the retain rows' NLL (the trained keep-probes) "
        "beside the anti-samples' NLL; 0: anti-samples alone",
    )  # fmt: skip
    lora: LoraSettings | None = Field(
        LoraSettings(), description="each round trains a LoRA adapter (rank 8, alpha 16 by "
        "default) merged in at its end; null: every weight",
    )  # fmt: skip
    steps_rule: Literal["twice_accepted", "paper"] = Field(
        "twice_accepted", description="steps per round: twice_accepted: ceil(2 x accepted / "
        "batch_size); paper: 4 x accepted (the demo's iterations)",
    )  # fmt: skip


class SftConfig(BaseModel):
    """UnSTAR's loss: descent on the anti-samples, the retain rows' NLL beside."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["unstar_sft"] = "unstar_sft"
    retain_weight: float = 1.0


def sft(config: SftConfig, model: PreTrainedModel, batch: UnlearningBatch) -> LossOutput:
    """mean NLL(anti-sample rows, the run's forget rows) + w_r * mean NLL(retain rows)."""
    nll = sequence_nll(model, batch.forget)
    return combine(nll, [("antisample_nll", 1.0, nll.mean()),
                         retain_term(model, batch, config.retain_weight)])  # fmt: skip


SFT = LossMethod(SftConfig, sft)


def request_of(context: ProcedureContext) -> FactRequest:
    request = context.inputs.facts
    if request is None or not request.targets:
        raise ProcedureError(
            "method 'unstar' unlearns facts: it needs a facts request (data: {kind: facts}) "
            "with targets; for a sequences request pick another method"
        )
    return request


def rows_of(kept: Sequence[AntiSample], round_: int, style: QuestionStyle) -> list[Sample]:
    """The accepted anti-samples as QA rows, asked in the model's question style, tied to
    their targets' forget samples."""
    return [Sample(f"{a.target_id}~r{round_}~{i}", "forget", style.answer(a.completion),
                   prompt=style.prompt(a.question), source_id=a.target_id)
            for i, a in enumerate(kept)]  # fmt: skip


def stop_reason(known: int, share: float, q_target: float) -> str:
    if known == 0:
        return "nothing_known"
    return "q_target" if share >= q_target else "rounds"


def steps_for(config: UnstarConfig, accepted: int, batch_size: int) -> int:
    if config.steps_rule == "paper":
        return 4 * accepted
    return max(1, math.ceil(2 * accepted / batch_size))


@METHODS.register("unstar", config=UnstarConfig, kind="procedure")
def run(config: UnstarConfig, context: ProcedureContext) -> TrainingResult:
    request = request_of(context)
    seed, rows, stopped = context.inputs.seed, [], "rounds"
    targets = {t.target_id: t for t in request.targets}
    zero = context.inputs.round_zero  # stage 2's round 0; None: written here
    settings = round_settings(config)
    with open_writers(config.roles, request, context.model, context.tokenizer,
                      rationale=settings.rationale, idk=settings.idk) as writers:  # fmt: skip
        written = zero.written if zero else write(writers, request.targets, config.per_variant,
                                                  seed)  # fmt: skip
        pool = QuestionPool(written.questions, config.per_variant)
        for round_ in range(1, config.rounds + 2):
            active = pool.active()
            first = zero if round_ == FIRST_ROUND else None
            completions, given = (
                first.probe(active) if first else probe_model(
                    context.model, context.tokenizer, active, config.probe_tokens)
            )  # fmt: skip
            share = pool.record(active, given)
            context.log({"unstar_round": round_, "unstar_unlearned_share": share,
                         "unstar_known": pool.known, "unstar_unknown": len(pool.unknown),
                         "unstar_asked": len(active)})  # fmt: skip
            if pool.known == 0 or share >= config.q_target or round_ > config.rounds:
                rows += probe_rows(round_, active, completions, given, writers.names())
                stopped = stop_reason(pool.known, share, config.q_target)
                break
            if first:
                kept, built = first.kept(), list(first.rows)
            else:
                kept, built = build_round(round_, targets, written, writers, active,
                                          completions, given, seed + round_)  # fmt: skip
            rows += built
            if not kept:
                stopped = "no_antisamples"
                break
            train_round(context, config, kept, round_)
    return context.result(stopped, {"unstar_rounds": pa.Table.from_pylist(rows, ROUNDS_SCHEMA)})


def train_round(
    context: ProcedureContext, config: UnstarConfig, kept: Sequence[AntiSample], round_: int
) -> None:
    """Train on one round's accepted anti-samples, the trained keep-probes beside."""
    steps = steps_for(config, len(kept), context.inputs.config.batch_size)
    training = {"steps": steps, "epochs": None, "lora": config.lora}
    style = question_style(context.tokenizer)
    loss = SftConfig(retain_weight=config.retain_weight)
    context.train_rows(rows_of(kept, round_, style), loss, SFT, training, style)


def round_settings(config: UnstarConfig) -> RoundSettings:
    """What decides the method's round 0 (stage 2 writes it with these)."""
    return RoundSettings(config.roles, config.per_variant, config.probe_tokens,
                         rationale=config.rationale == "write",
                         idk=config.answer == "idk")  # fmt: skip
