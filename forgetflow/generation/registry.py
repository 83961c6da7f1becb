"""Pick a generation backend by name from config: `with open_backend(config, model_dir) as b:`.

Every backend is opened as a context so that a vLLM server started for one model directory is
stopped when the stage is done with it (serving a newly unlearned model means a fresh server).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend
from forgetflow.generation.fake import FakeBackend
from forgetflow.generation.hf import HFBackend
from forgetflow.generation.server import ServerConfig, kv_cache_gib, vllm_python
from forgetflow.generation.template import TemplateBackend
from forgetflow.generation.vllm import VLLMBackend
from forgetflow.models.io import load_model, load_tokenizer, model_path


class BackendConfig(BaseModel):
    """Which backend generates a stage's text, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["hf", "vllm", "fake", "template"] = Field(
        "hf", description="hf: in-process; vllm: a vLLM server; fake/template: no model"
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


def backend_params(config: BackendConfig) -> dict[str, object]:
    """What a run logs about its backend: `backend` and the settings that apply to it."""
    shared = {"backend": config.name}
    if config.name == "hf":
        return shared | {"batch_size": config.batch_size, "token_budget": config.token_budget}
    if config.name == "vllm":
        return shared | {"vllm_url": config.url or "started", "vllm_dtype": config.dtype,
                         "vllm_kv_cache_gib": config.kv_cache_gib or "auto"}  # fmt: skip
    return shared


@contextmanager
def open_backend(
    config: BackendConfig,
    model_dir: str | Path | None,
    log_dir: str | Path,
    loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None,
) -> Iterator[GenerationBackend]:
    """The configured backend for `model_dir` (ignored by fake and template); vLLM's server log
    goes to `log_dir/vllm-server.log`. `hf` decodes with `loaded` (that directory's model and
    tokenizer, already in memory) when given, instead of loading a second copy."""
    if config.name == "fake":
        yield FakeBackend()
    elif config.name == "template":
        yield TemplateBackend()
    elif model_dir is None:
        raise ValueError(f"the {config.name} backend needs a model directory")
    elif config.name == "hf":
        model, tokenizer = loaded or load_model(model_dir)
        yield HFBackend(model, tokenizer, config.batch_size, config.token_budget, progress=True)
    else:
        with vllm_backend(config, Path(model_dir), Path(log_dir)) as backend:
            yield backend


def vllm_backend(config: BackendConfig, model: Path, log_dir: Path) -> VLLMBackend:
    model_dir = model_path(model)  # a pulled model's name works too
    tokenizer = load_tokenizer(model_dir)
    if config.url is not None:
        return VLLMBackend(tokenizer, url=config.url)
    server = ServerConfig(
        model_dir=model_dir, python=vllm_python(), log_path=log_dir / "vllm-server.log",
        dtype=config.dtype, max_model_len=config.max_model_len,
        kv_cache_gib=config.kv_cache_gib or kv_cache_gib(model_dir, config.kv_tokens, config.dtype),
        startup_timeout_s=config.startup_timeout_s,
    )  # fmt: skip
    return VLLMBackend(tokenizer, server=server)
