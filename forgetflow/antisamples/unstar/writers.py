"""Which generator writes each of UnSTAR's roles (RoleSettings), and opening them (Writers):
`target` (the model being unlearned, as it is when asked: the paper's roles), `template` (the
request's template set: rule-based, no model) or `model` (another model directory or a pulled
model's name, e.g. SmolLM2-135M-Instruct)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.build import Writers
from forgetflow.antisamples.unstar.model_writers import (
    ModelAnswerWriter,
    ModelQuestionWriter,
    ModelRationaleWriter,
    chat_prompt,
)
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.template_writers import (
    TemplateAnswerWriter,
    TemplateQuestionWriter,
    TemplateRationaleWriter,
)
from forgetflow.generation.hf import HFBackend
from forgetflow.models.io import load_model, model_path

Generator = Literal["target", "template", "model"]
MODEL_WRITERS = {"questions": ModelQuestionWriter, "answers": ModelAnswerWriter,
                 "rationales": ModelRationaleWriter}  # fmt: skip


class WriterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    generator: Generator = Field(
        "target", description="target: the model being unlearned writes it (the paper); "
        "template: the request's templates (no model); model: the model named by `model`",
    )  # fmt: skip
    model: str | None = Field(
        None, description="under generator model: a local HF model directory or a pulled "
        "model's name (e.g. smollm2-135m-instruct)",
    )  # fmt: skip

    @model_validator(mode="after")
    def named_model(self) -> WriterSettings:
        if (self.generator == "model") != (self.model is not None):
            raise ValueError("give `model` exactly when the generator is model")
        return self


class RoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: WriterSettings = Field(WriterSettings(), description="paraphrased questions")
    answers: WriterSettings = Field(WriterSettings(), description="falsified answers")
    rationales: WriterSettings = Field(WriterSettings(), description="misleading rationales")


class WriterError(ValueError):
    """A role's generator cannot be opened for this request."""


def role_writer(
    role: str, settings: WriterSettings, request: FactRequest,
    models: dict[str, tuple[PreTrainedModel, PreTrainedTokenizerBase]],
) -> object:  # fmt: skip
    if settings.generator == "template":
        if request.generator is None:
            raise WriterError(
                f"unstar's {role} come from templates but the request has no template set; "
                f"use generator target or model for {role}"
            )
        if role == "questions":
            return TemplateQuestionWriter(request.generator, [q.text for q in request.evaluation])
        if role == "answers":
            return TemplateAnswerWriter()
        return TemplateRationaleWriter(request.generator)
    key = settings.model or "target"
    if key not in models:
        models[key] = load_model(model_path(key))
    model, tokenizer = models[key]
    name = "target" if key == "target" else f"model:{key}"
    return MODEL_WRITERS[role](HFBackend(model, tokenizer), name, chat_prompt(tokenizer))


@contextmanager
def open_writers(
    roles: RoleSettings, request: FactRequest, target: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase, rationale: bool = True, idk: bool = False,
) -> Iterator[Writers]:  # fmt: skip
    """The writers of each role; a model named by several roles is loaded once. `target`
    writes with the weights it has when asked (each round's)."""
    models = {"target": (target, tokenizer)}
    questions = role_writer("questions", roles.questions, request, models)
    answers = role_writer("answers", roles.answers, request, models)
    rationales = role_writer("rationales", roles.rationales, request, models) if rationale else None
    yield Writers(questions, answers, rationales, idk)  # type: ignore[arg-type]
