"""Which generator writes each of UnSTAR's roles (RoleSettings), and opening them (Writers):
`target` (the model being unlearned, as it is when asked: the paper's roles), `template` (the
request's template set: rule-based, no model) or `model` (another model directory or a pulled
model's name, e.g. SmolLM2-135M-Instruct), decoded in-process (backend hf) or by a vLLM server
(backend vllm, served.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.build import Writers
from forgetflow.antisamples.unstar.model_writers import (
    ModelAnswerWriter,
    ModelQuestionWriter,
    ModelRationaleWriter,
)
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.served import WriterError, WriterModels
from forgetflow.antisamples.unstar.template_writers import (
    TemplateAnswerWriter,
    TemplateQuestionWriter,
    TemplateRationaleWriter,
)

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
    backend: Literal["hf", "vllm"] = Field(
        "hf", description="under generator model: hf decodes in-process; vllm serves the model "
        "with a vLLM server (one per model, however many roles name it; needs `make vllm`)",
    )  # fmt: skip

    @model_validator(mode="after")
    def named_model(self) -> WriterSettings:
        if (self.generator == "model") != (self.model is not None):
            raise ValueError("give `model` exactly when the generator is model")
        if self.backend == "vllm" and self.generator != "model":
            raise ValueError(
                f"backend vllm serves a named model, but the generator is {self.generator}: "
                "set generator model and its model, or backend hf"
            )
        return self


class RoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: WriterSettings = Field(WriterSettings(), description="paraphrased questions")
    answers: WriterSettings = Field(WriterSettings(), description="falsified answers")
    rationales: WriterSettings = Field(WriterSettings(), description="misleading rationales")


def role_writer(
    role: str, settings: WriterSettings, request: FactRequest, models: WriterModels
) -> object:
    """The writer of one role: template rules, or a model writer on the backend `models` opens
    for the role's model (each model opened once for all roles)."""
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
    backend, chat = models.open(role, settings.model, settings.backend)
    name = "target" if settings.model is None else f"model:{settings.model}"
    return MODEL_WRITERS[role](backend, name, chat)


@contextmanager
def open_writers(
    roles: RoleSettings, request: FactRequest, target: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase, rationale: bool = True, idk: bool = False,
    log_dir: Path | None = None,
) -> Iterator[Writers]:  # fmt: skip
    """The writers of each role; a model named by several roles is loaded (hf) or served (vllm)
    once, and its servers stop when the context exits. `target` writes with the weights it has
    when asked (each round's). vLLM servers log to `log_dir` (None: a new temporary folder,
    kept)."""
    with ExitStack() as stack:
        models = WriterModels(target, tokenizer, stack, log_dir)
        questions = role_writer("questions", roles.questions, request, models)
        answers = role_writer("answers", roles.answers, request, models)
        rationales = (
            role_writer("rationales", roles.rationales, request, models) if rationale else None
        )
        yield Writers(questions, answers, rationales, idk)  # type: ignore[arg-type]
