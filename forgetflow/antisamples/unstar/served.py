"""The models UnSTAR's writers decode with (WriterModels), each opened once per `open_writers`:
in-process (backend hf: the target as given, another model loaded) or through a vLLM server
(backend vllm: one server per model directory, however many roles name it, started on first use
from the vLLM environment and stopped when the writers close).

A server that cannot start (no vLLM environment, a model vLLM cannot load) is a WriterError that
names the role and the model, in one line; the server's log stays on disk and the error names it.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.model_writers import Chat, chat_prompt
from forgetflow.generation.base import GenerationBackend
from forgetflow.generation.hf import HFBackend
from forgetflow.generation.server import ServerConfig, ServerError, kv_cache_gib, vllm_python
from forgetflow.generation.vllm import VLLMBackend
from forgetflow.models.io import load_model, load_tokenizer, model_path

TARGET = "target"
# a writer's server: fp32 (as the HF writers decode), a KV cache for WRITER_KV_TOKENS positions
# (256 rationale prompts of about 66 tokens and their 64 new tokens, in blocks of 32), and the
# scheduler settings bench/antisamples.py runs with (`--server-args` there tries others).
# 2048 tokens a step: the running rationales decode inside the next prompts' prefill steps
# instead of after all of them (256 rationale prompts, 2 cores: 17.2 s against 22-24 s at 16384,
# 18.4 at 1024, 19.3 at 3072). The writers decode greedily, so a prompt split across steps is safe
# (the vLLM backend keeps seeded sampling's prompts whole; see ServerConfig).
WRITER_KV_TOKENS = 32768
WRITER_BATCHED_TOKENS = 2048
WRITER_SERVER_ARGS = ("--max-num-seqs", "256")
STARTUP_TIMEOUT_S = 600.0  # a first start compiles (about 150 s on 2 busy cores)


class WriterError(ValueError):
    """A role's generator cannot be opened for this request."""


def writer_server(model_dir: Path, log_path: Path) -> ServerConfig:
    """The vLLM server a writer's model gets (the bench starts the same one)."""
    return ServerConfig(
        model_dir=model_dir, python=vllm_python(), log_path=log_path, dtype="float32",
        kv_cache_gib=kv_cache_gib(model_dir, WRITER_KV_TOKENS),
        startup_timeout_s=STARTUP_TIMEOUT_S, max_num_batched_tokens=WRITER_BATCHED_TOKENS,
        extra_args=WRITER_SERVER_ARGS,
    )  # fmt: skip


def one_line(err: ServerError) -> str:
    """The error's first line (a startup failure's log tail follows it; the line names the log)."""
    return str(err).splitlines()[0].removesuffix(", last lines:")


class WriterModels:
    """The backend of each (model, backend) a role names; `stack` stops the servers."""

    def __init__(
        self, target: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, stack: ExitStack,
        log_dir: Path | None = None,
    ) -> None:  # fmt: skip
        self.loaded = {TARGET: (target, tokenizer)}
        self.served: dict[Path, tuple[VLLMBackend, PreTrainedTokenizerBase]] = {}
        self.stack = stack
        self.log_dir = log_dir

    def open(
        self, role: str, model: str | None, backend: str
    ) -> tuple[GenerationBackend, Chat | None]:
        """The backend decoding with `model` (None: the target) and its chat prompt."""
        if backend == "vllm" and model is not None:
            served, tokenizer = self.serve(role, model)
            return served, chat_prompt(tokenizer)
        key = model or TARGET
        if key not in self.loaded:
            self.loaded[key] = load_model(model_path(key))
        loaded, tokenizer = self.loaded[key]
        return HFBackend(loaded, tokenizer), chat_prompt(tokenizer)

    def serve(self, role: str, model: str) -> tuple[VLLMBackend, PreTrainedTokenizerBase]:
        """The running server for `model`'s directory, started on the first role that names it."""
        directory = model_path(model).resolve()
        if directory not in self.served:
            if self.log_dir is None:  # kept after the run: the server's log
                self.log_dir = Path(tempfile.mkdtemp(prefix="forgetflow-writers-"))
            log = self.log_dir / f"vllm-writer-{len(self.served)}-{directory.name}.log"
            tokenizer = load_tokenizer(directory)
            backend = VLLMBackend(tokenizer, server=writer_server(directory, log))
            try:
                self.stack.enter_context(backend)
            except ServerError as err:
                raise WriterError(
                    f"unstar's {role} are written by {model} through vLLM, which cannot start: "
                    f"{one_line(err)}; or set the role's backend to hf"
                ) from err
            self.served[directory] = (backend, tokenizer)
        return self.served[directory]
