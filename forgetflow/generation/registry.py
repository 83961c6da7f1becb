"""Pick a generation backend by name from config: `with open_backend(config, model_dir) as b:`.

Every backend is opened as a context so that a vLLM server started for one model directory is
stopped when the stage is done with it (serving a newly unlearned model means a fresh server).
A backend registers its opener by name, `@BACKENDS.register("hf", serves_model=True)`, in any
module of this package (the registry imports them all on first use): a new backend is one file.
The settings (BackendConfig) and the registry of names they are checked against are in config.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend
from forgetflow.generation.config import BACKENDS, BackendConfig


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
    opener: Opener = BACKENDS.get(config.name)
    directory = None if model_dir is None else Path(model_dir)
    return opener(BackendRequest(config, directory, Path(log_dir), loaded))
