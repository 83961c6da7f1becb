"""A stage's `generator:` settings (BackendConfig), and the registry of backend names they are
checked against: a backend module registers its opener with `@BACKENDS.register("hf",
serves_model=True)`; opening one is `registry.open_backend`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from forgetflow.generation.base import GenerationBackend
from forgetflow.registry import Registry, UnknownNameError


class UnknownBackendError(UnknownNameError):
    """No generation backend is registered under this name."""


# each backend's opener, by name: it takes a registry.BackendRequest (typed there as Opener)
BACKENDS: Registry[Callable[..., AbstractContextManager[GenerationBackend]]] = Registry(
    "generation backend", "forgetflow.generation", error=UnknownBackendError
)


def serves_model(name: str) -> bool:
    """Whether backend `name` decodes with the model under study (metadata `serves_model`)."""
    return bool(BACKENDS.meta(name).get("serves_model", False))


class BackendConfig(BaseModel):
    """Which backend generates a stage's text, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        "hf",
        description="the backend: hf (in-process), vllm (a vLLM server), fake or template (no "
        "model), or any backend registered in forgetflow.generation",
    )
    batch_size: int = Field(
        32, ge=1, description="hf: most prompts decoded together in one generation batch (not "
        "a scoring or training batch)",
    )  # fmt: skip
    token_budget: int | None = Field(
        None, ge=1, description="hf: most positions (rows x (prompt + new tokens)) per "
        "generation batch; null: bounded by batch_size alone",
    )  # fmt: skip
    url: str | None = Field(
        None, description="vllm: the URL of a running server to attach to; null: start one per "
        "model",
    )  # fmt: skip
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="vllm: the dtype the server loads and runs the model in (hf "
        "decodes in the model's own dtype)",
    )  # fmt: skip
    kv_cache_gib: int | None = Field(
        None, ge=1, description="vllm on CPU: KV cache size in GiB; null: sized to hold "
        "kv_tokens positions",
    )  # fmt: skip
    kv_tokens: int = Field(
        32768, ge=1, description="vllm on CPU: token positions the KV cache holds at once "
        "(sizes the cache when kv_cache_gib is null)",
    )  # fmt: skip
    max_model_len: int | None = Field(
        None, ge=1, description="vllm: the context length (tokens) the server serves; null: the "
        "model's own",
    )  # fmt: skip
    startup_timeout_s: float = Field(
        300.0, gt=0, description="vllm: seconds to wait for a started server to report healthy"
    )

    @field_validator("name")
    @classmethod
    def registered(cls, name: str) -> str:
        """An unknown name fails in one line with the registered ones and a did-you-mean."""
        BACKENDS.get(name)
        return name


def model_backend(generator: BackendConfig) -> BackendConfig:
    """Stages that decode with the model under study take hf or vllm."""
    if not serves_model(generator.name):
        raise ValueError(f"this stage decodes with a model: hf or vllm, not {generator.name!r}")
    return generator


ModelBackend = Annotated[BackendConfig, AfterValidator(model_backend)]
