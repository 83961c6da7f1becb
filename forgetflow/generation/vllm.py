"""Generation through a vLLM OpenAI-compatible server: one forgetflow starts, or one given by URL.

Prompts go to `/v1/completions` as token ids (text prompts are encoded here with the model's own
tokenizer and special tokens, as the HF backend does), so both backends continue the same ids.

vLLM runs the n samples of a prompt as n requests that each compute the whole prompt again (a
child reuses only whole cached blocks, and never the block holding the prompt's last token). For
seeded top-k sampling on a server forgetflow started, the backend therefore computes each prompt
once and draws its n first tokens itself (`first_tokens`), then continues the n (prompt, first
token) sequences, which find the prompt's full blocks in the server's prefix cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import Prompt, SamplingParams
from forgetflow.generation.config import BACKENDS, BackendConfig
from forgetflow.generation.registry import BackendRequest
from forgetflow.generation.server import (
    ServerConfig,
    ServerError,
    VLLMServer,
    kv_cache_gib,
    vllm_python,
)
from forgetflow.lm.dtypes import server_dtype
from forgetflow.lm.tokens import pair_ids, prompt_ids
from forgetflow.models.io import load_tokenizer, max_positions, model_path
from forgetflow.records import Completion

SERVED_NAME = "model"  # --served-model-name of the servers forgetflow starts
DEFAULT_BATCHED = 2048  # vLLM's tokens per scheduler step, for a server started elsewhere
DECODE_MARGIN = 512  # the running sequences' decode tokens that share a step with prefills


class VLLMRequestError(RuntimeError):
    """The server refused or failed a request."""


def request_body(prompts: list[list[int]], params: SamplingParams) -> dict[str, Any]:
    return {
        "model": SERVED_NAME, "prompt": prompts, "max_tokens": params.max_tokens,
        "min_tokens": params.min_tokens, "temperature": params.temperature,
        "top_k": params.top_k or None, "top_p": params.top_p, "n": params.n, "seed": params.seed,
        "stop": list(params.stop), "ignore_eos": params.ignore_eos,
        "logprobs": 0 if params.logprobs else None, "return_token_ids": True,
        "include_stop_str_in_output": False, "skip_special_tokens": True,
    }  # fmt: skip


def shares_prefill(params: SamplingParams, max_logprobs: int) -> bool:
    """Whether n samples of a prompt can share its prefill (see the module): seeded top-k sampling
    with top_k at most the server's `max_logprobs`, without top-p, stop strings or a minimum
    length (which would change the first token's distribution or end it early)."""
    return (params.n > 1 and params.temperature > 0 and 0 < params.top_k <= max_logprobs
            and params.top_p == 1.0 and not params.stop and params.min_tokens == 0)  # fmt: skip


def first_tokens(
    top: dict[str, float], params: SamplingParams, rng: np.random.Generator
) -> list[tuple[int, float]]:
    """n first tokens drawn as top-k sampling draws them, from the raw log-probs of the next
    token's top candidates (`token_id:<id>` keys, as vLLM returns them): the top_k largest,
    tempered and renormalized; each with its log-probability under the model."""
    ranked = sorted(
        ((float(lp), int(key.removeprefix("token_id:"))) for key, lp in top.items()), reverse=True
    )[: params.top_k]
    logprobs = np.array([lp for lp, _ in ranked])
    weights = np.exp((logprobs - logprobs.max()) / params.temperature)
    picks = rng.choice(len(ranked), size=params.n, p=weights / weights.sum())
    return [(ranked[i][1], ranked[i][0]) for i in picks]


def completion_of(choice: dict[str, Any], params: SamplingParams) -> Completion:
    ids = tuple(int(t) for t in choice["token_ids"])
    logprobs = None
    if params.logprobs:
        logprobs = tuple(float(x) for x in choice["logprobs"]["token_logprobs"])
    return Completion(ids, choice["text"], logprobs)


class VLLMBackend:
    """Attach to `url`, or start a server from `server` on entering the context.

    `with VLLMBackend(tokenizer, server=config) as backend: backend.generate(...)`; the server
    stops on leaving, also on an error or an interrupt.
    """

    name = "vllm"

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        url: str | None = None,
        server: ServerConfig | None = None,
        prompts_per_request: int = 1024,
        model: str = SERVED_NAME,
        prefill_budget: int | None = None,
        max_logprobs: int | None = None,
    ) -> None:
        if (url is None) == (server is None):
            raise ValueError("give the vLLM backend either a server URL or a server to start")
        self.tokenizer = tokenizer
        self.url = url
        self.model = model
        self.prompts_per_request = prompts_per_request
        if prefill_budget is None:
            batched = server.max_num_batched_tokens if server is not None else DEFAULT_BATCHED
            prefill_budget = max(batched - DECODE_MARGIN, 1)
        self.prefill_budget = prefill_budget
        if max_logprobs is None:  # a server started elsewhere: its settings are unknown
            max_logprobs = server.max_logprobs if server is not None else 0
        self.max_logprobs = max_logprobs  # 0: vLLM draws every sample (no shared prefill)
        self._server = VLLMServer(server) if server is not None else None
        self.max_positions = None  # a server started elsewhere enforces its own limit
        if server is not None:
            self.max_positions = server.max_model_len or max_positions(server.model_dir)

    def __enter__(self) -> VLLMBackend:
        if self._server is not None:
            self.url = self._server.start().url
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.stop()

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.url is None:
            raise ServerError("the vLLM backend has no server: use it inside `with`")
        body = body | {"model": self.model}
        try:
            response = httpx.post(f"{self.url}/v1/completions", json=body, timeout=None)
        except httpx.HTTPError as err:
            raise VLLMRequestError(f"the vLLM server at {self.url} did not answer: {err}") from err
        if response.status_code != 200:
            raise VLLMRequestError(
                f"the vLLM server answered {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    def chunks(self, ids: list[list[int]], params: SamplingParams) -> list[list[list[int]]]:
        """The prompts of each request, in order: at most `prompts_per_request`, and for seeded
        sampling at most `prefill_budget` prompt tokens over all n copies (a prompt longer than
        that alone), so that no scheduler step splits a prompt (see ServerConfig)."""
        out: list[list[list[int]]] = [[]]
        tokens = 0
        grows = shares_prefill(params, self.max_logprobs)  # each sample's prompt + first token
        for prompt in ids:
            cost = (len(prompt) + grows) * params.n if params.temperature > 0 else 0
            if out[-1] and (len(out[-1]) == self.prompts_per_request
                            or tokens + cost > self.prefill_budget):  # fmt: skip
                out.append([])
                tokens = 0
            out[-1].append(prompt)
            tokens += cost
        return [chunk for chunk in out if chunk]

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        ids = prompt_ids(self.tokenizer, prompts)
        shared = shares_prefill(params, self.max_logprobs)
        out: list[Completion] = []
        for chunk in self.chunks(ids, params):
            if shared:
                out += self._shared(chunk, params, len(out) // params.n)
            else:
                out += self._request(chunk, params)
        return out

    def _request(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        choices = self._post(request_body(prompts, params))["choices"]
        if len(choices) != len(prompts) * params.n:
            raise VLLMRequestError(
                f"asked for {len(prompts) * params.n} completions, got {len(choices)}"
            )
        return [completion_of(c, params) for c in sorted(choices, key=lambda c: c["index"])]

    def _shared(
        self, chunk: list[list[int]], params: SamplingParams, first: int
    ) -> list[Completion]:
        """n samples of each prompt of `chunk` from one prefill of it (see the module): one
        request computes each prompt once and returns its next token's top-k log-probs; the n
        first tokens are drawn here (seeded by the seed and the prompt's index `first` + i in the
        call); sample j of every prompt is then continued by one of n concurrent requests,
        seeded seed + j. An EOS drawn first ends its sample unless EOS is ignored."""
        once = params.model_copy(update={"n": 1, "max_tokens": 1, "temperature": 0.0,
                                         "logprobs": False})  # fmt: skip
        body = request_body(chunk, once) | {"logprobs": params.top_k,
                                            "return_tokens_as_token_ids": True}  # fmt: skip
        choices = sorted(self._post(body)["choices"], key=lambda c: c["index"])
        drawn = [first_tokens(c["logprobs"]["top_logprobs"][0], params,
                              np.random.default_rng([params.seed, first + i]))
                 for i, c in enumerate(choices)]  # fmt: skip
        tails: list[list[Completion]] = [[Completion((), "", ())] * len(chunk)] * params.n
        if params.max_tokens > 1:
            rest = params.model_copy(update={"n": 1, "max_tokens": params.max_tokens - 1})

            def sample(j: int) -> list[Completion]:
                prompts = [[*prompt, drawn[i][j][0]] for i, prompt in enumerate(chunk)]
                return self._request(prompts, rest.model_copy(update={"seed": params.seed + j}))

            with ThreadPoolExecutor(max_workers=params.n) as pool:
                tails = list(pool.map(sample, range(params.n)))
        out = []
        for i in range(len(chunk)):
            for j in range(params.n):
                token, logprob = drawn[i][j]
                ended = token == self.tokenizer.eos_token_id and not params.ignore_eos
                tail = Completion((), "", ()) if ended else tails[j][i]
                ids = (token, *tail.token_ids)
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                scores = (logprob, *(tail.logprobs or ())) if params.logprobs else None
                out.append(Completion(ids, text, scores))
        return out

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of the prompt log-probs of each continuation's tokens after its context."""
        sequences, tails = pair_ids(self.tokenizer, pairs)
        scores: list[float] = []
        for begin in range(0, len(sequences), self.prompts_per_request):
            chunk = sequences[begin : begin + self.prompts_per_request]
            body = {"prompt": chunk, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}
            choices = sorted(self._post(body)["choices"], key=lambda c: c["index"])
            for seq, choice in zip(chunk, choices, strict=True):
                scores.append(prompt_sum(seq, choice["prompt_logprobs"], tails[len(scores)]))
        return scores


def prompt_sum(
    seq: Sequence[int], prompt_logprobs: list[dict[str, Any] | None], tail: int
) -> float:
    """Sum of the log-probs vLLM reports for the last `tail` prompt tokens (keyed by token id)."""
    total = 0.0
    for position in range(len(seq) - tail, len(seq)):
        entry = prompt_logprobs[position]
        if entry is None:
            raise VLLMRequestError(f"no prompt log-prob at position {position}")
        total += float(entry[str(seq[position])]["logprob"])
    return total


def vllm_backend(config: BackendConfig, model: Path, log_dir: Path) -> VLLMBackend:
    model_dir = model_path(model)  # a pulled model's name works too
    tokenizer = load_tokenizer(model_dir)
    if config.url is not None:
        return VLLMBackend(tokenizer, url=config.url)
    server = ServerConfig(
        model_dir=model_dir, python=vllm_python(), log_path=log_dir / "vllm-server.log",
        dtype=config.dtype, max_model_len=config.max_model_len,
        kv_cache_gib=config.kv_cache_gib
        or kv_cache_gib(model_dir, config.kv_tokens, server_dtype(config.dtype)),
        startup_timeout_s=config.startup_timeout_s,
    )  # fmt: skip
    return VLLMBackend(tokenizer, server=server)


@BACKENDS.register("vllm", serves_model=True)
@contextmanager
def open_vllm(request: BackendRequest) -> Iterator[VLLMBackend]:
    """A vLLM server started for the model directory (or attached to `config.url`)."""
    with vllm_backend(request.config, request.model_directory(), request.log_dir) as backend:
        yield backend
