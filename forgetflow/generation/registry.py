"""Pick a generation backend by name from config: `with open_backend(config, model_dir) as b:`.

Every backend is opened as a context so that a vLLM server started for one model directory is
stopped when the stage is done with it (serving a newly unlearned model means a fresh server).
A backend registers its opener by name, `@BACKENDS.register("hf", serves_model=True)`, in any
module of this package (the registry imports them all on first use): a new backend is one file.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend
from forgetflow.registry import Registry, UnknownNameError


class UnknownBackendError(UnknownNameError):
    """No generation backend is registered under this name."""


class BackendConfig(BaseModel):
    """Which backend generates a stage's text, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        "hf",
        description="hf: in-process; vllm: a vLLM server; fake/template: no model; or any "
        "backend registered in forgetflow.generation",
    )
    batch_size: int = Field(32, ge=1, description="hf: most prompts per forward pass")
    token_budget: int | None = Field(
        None, ge=1, description="hf: most positions (rows x (prompt + new tokens)) per batch"
    )
    url: str | None = Field(None, description="vllm: attach to this server instead of starting one")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="vllm dtype")
    kv_cache_gib: int | None = Field(
        None, ge=1, description="vllm on CPU: KV cache GiB (default: sized to hold kv_tokens)"
    )
    kv_tokens: int = Field(
        32768, ge=1, description="vllm on CPU: positions the KV cache holds at once"
    )
    max_model_len: int | None = Field(None, ge=1, description="vllm: context length to serve")
    startup_timeout_s: float = Field(300.0, gt=0, description="vllm: wait this long for health")

    @field_validator("name")
    @classmethod
    def registered(cls, name: str) -> str:
        """An unknown name fails in one line with the registered ones and a did-you-mean."""
        BACKENDS.get(name)
        return name


@dataclass(frozen=True)
class BackendRequest:
    """What an opener gets: the config, the model directory to serve (None for a backend that
    serves no model), where logs go, and that directory's model already in memory, if any."""

    config: BackendConfig
    model_dir: Path | None
    log_dir: Path
    loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None

    def model_directory(self) -> Path:
        """The directory to serve; a backend that serves a model calls this to refuse None."""
        if self.model_dir is None:
            raise ValueError(f"the {self.config.name} backend needs a model directory")
        return self.model_dir


Opener = Callable[[BackendRequest], AbstractContextManager[GenerationBackend]]

BACKENDS: Registry[Opener] = Registry(
    "generation backend", "forgetflow.generation", error=UnknownBackendError
)


def serves_model(name: str) -> bool:
    """Whether backend `name` decodes with the model under study (metadata `serves_model`)."""
    return bool(BACKENDS.meta(name).get("serves_model", False))


def backend_params(config: BackendConfig) -> dict[str, object]:
    """What a run logs about its backend: `backend` and the settings that apply to it."""
    shared = {"backend": config.name}
    if config.name == "hf":
        return shared | {"batch_size": config.batch_size, "token_budget": config.token_budget}
    if config.name == "vllm":
        return shared | {"vllm_url": config.url or "started", "vllm_dtype": config.dtype,
                         "vllm_kv_cache_gib": config.kv_cache_gib or "auto"}  # fmt: skip
    return shared


def open_backend(
    config: BackendConfig,
    model_dir: str | Path | None,
    log_dir: str | Path,
    loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None,
) -> AbstractContextManager[GenerationBackend]:
    """The configured backend for `model_dir` (ignored by backends that serve no model, e.g.
    fake and template); vLLM's server log goes to `log_dir/vllm-server.log`. `hf` decodes with
    `loaded` (that directory's model and tokenizer, already in memory) when given, instead of
    loading a second copy."""
    opener = BACKENDS.get(config.name)
    directory = None if model_dir is None else Path(model_dir)
    return opener(BackendRequest(config, directory, Path(log_dir), loaded))
