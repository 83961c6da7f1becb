"""Bench: greedy generation through a vLLM server against batched HF, on one CPU machine.

    python bench/generation.py --json [--model MODEL] [--n N] [--prompt-tokens P] [--new-tokens K]

Default: SmolLM2-135M-Instruct (`forgetflow models pull smollm2-135m-instruct` first), 256 prompts
of 32 tokens (distinct windows of the tiny world's records, re-tokenized for the model) x 64
new tokens, greedy, EOS ignored so every prompt decodes exactly K tokens.

- HF: the batch size is picked by a sweep on the first 64 prompts, in fp32 and bf16; the full
  run uses the best size at each dtype.
- vLLM: a fresh server per dtype with forgetflow's settings (server.cpu_defaults), its start
  until healthy timed on its own (`server_start_s`); all prompts in one request, wall time from
  request to answer.
- vllm_speedup = HF fp32 seconds / vLLM fp32 seconds; vllm_bf16_speedup = seconds of HF at its
  faster dtype / vLLM bf16 seconds; greedy_agreement = share of prompts whose fp32 greedy tokens
  are identical in both.
- Context: `matmul_peak_gflops` is this CPU's matrix-multiply rate per dtype, `gflops` each run's
  rate over the run's work, and `speedup_ceiling` the speedup a backend running at that peak
  would reach over HF.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase as Tokenizer

from forgetflow.generation.base import SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.generation.server import ServerConfig, kv_cache_gib, vllm_python
from forgetflow.generation.vllm import VLLMBackend
from forgetflow.lm.dtypes import cpu_capability
from forgetflow.models.io import load_model, load_tokenizer, model_path
from forgetflow.paths import resolve_paths
from forgetflow.records import Completion
from forgetflow.scenarios.world.build import WorldConfig, build_world

SWEEP = (16, 32, 64, 128, 256)
Prompts = list[list[int]]


def prompts_for(tokenizer: Tokenizer, count: int, length: int) -> list[list[int]]:
    """`count` distinct windows of `length` tokens from the tiny world's records, in this model's
    tokens: each record's first window, then windows starting 8 tokens later, and so on (no two
    prompts alike, so that no backend gains from a prefix cache)."""
    world = build_world(WorldConfig(), resolve_paths().worlds)
    records = [tokenizer(t)["input_ids"] for t in world.table("items")["text"].to_pylist() if t]
    prompts: dict[tuple[int, ...], None] = {}
    for offset in range(0, max(len(r) for r in records) - length + 1, 8):
        for ids in records:
            window = tuple(ids[offset : offset + length])
            if len(window) == length:
                prompts.setdefault(window)
            if len(prompts) == count:
                return [list(p) for p in prompts]
    raise SystemExit(f"the tiny world has only {len(prompts)} distinct {length}-token prompts")


def matmul_gflops(dtype: torch.dtype, rows: int = 256, size: int = 1024, reps: int = 50) -> float:
    """This CPU's matrix-multiply rate at `dtype` (torch, all threads): the ceiling of any
    backend's decoding rate, which is matrix products almost entirely."""
    a, b = torch.randn(rows, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(5):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * rows * size * size * reps / (time.perf_counter() - start) / 1e9


def generation_gflop(model: PreTrainedModel, prompts: int, prompt_tokens: int, new: int) -> float:
    """Multiply-add work of the run: every position through the blocks' weights, the LM head for
    each generated token (attention scores left out: short sequences)."""
    head = model.get_output_embeddings().weight.numel()
    blocks = sum(p.numel() for n, p in model.named_parameters() if ".layers." in n or ".h." in n)
    positions = prompts * (prompt_tokens + new - 1)
    return 2 * (positions * blocks + prompts * new * head) / 1e9


def hf_seconds(
    model: PreTrainedModel, tokenizer: Tokenizer, prompts: Prompts, params: SamplingParams,
    batch: int,
) -> tuple[float, list[Completion]]:  # fmt: skip
    backend = HFBackend(model, tokenizer, batch_size=batch)
    start = time.perf_counter()
    out = backend.generate(prompts, params)
    return time.perf_counter() - start, out


def hf_best(
    model: PreTrainedModel, tokenizer: Tokenizer, prompts: Prompts, params: SamplingParams
) -> tuple[int, float, list[Completion]]:
    """The sweep's fastest batch size on 64 prompts, then the timed full run at that size."""
    sweep = {b: hf_seconds(model, tokenizer, prompts[:64], params, b)[0] for b in SWEEP}
    best = min(sweep, key=sweep.__getitem__)
    seconds, out = hf_seconds(model, tokenizer, prompts, params, best)
    return best, seconds, out


def vllm_run(
    model_dir: Path, dtype: str, prompts: Prompts, params: SamplingParams, tokens: int, logs: Path
) -> dict:
    """A fresh server at `dtype`: its start, and the timed run after a warm-up request."""
    config = ServerConfig(
        model_dir=model_dir, python=vllm_python(), log_path=logs / f"vllm-{dtype}.log",
        dtype=dtype, max_model_len=max(len(p) for p in prompts) + params.max_tokens,
        kv_cache_gib=kv_cache_gib(model_dir, tokens, dtype), startup_timeout_s=600,
    )  # fmt: skip
    backend = VLLMBackend(load_tokenizer(model_dir), server=config)
    start = time.perf_counter()
    with backend:
        started = time.perf_counter() - start
        backend.generate(prompts[:2], params)  # warm-up: the first request compiles kernels
        begin = time.perf_counter()
        out = backend.generate(prompts, params)
        seconds = time.perf_counter() - begin
    return {"seconds": seconds, "start": started, "out": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a directory or name")
    parser.add_argument("--n", type=int, default=256, help="prompts")
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model_dir = model_path(args.model)
    model, tokenizer = load_model(model_dir)
    prompts = prompts_for(tokenizer, args.n, args.prompt_tokens)
    params = SamplingParams(max_tokens=args.new_tokens, ignore_eos=True)
    new_tokens = args.n * args.new_tokens
    batch32, hf32_s, hf32 = hf_best(model, tokenizer, prompts, params)
    batch16, hf16_s, _ = hf_best(model.to(torch.bfloat16), tokenizer, prompts, params)
    work = generation_gflop(model, args.n, args.prompt_tokens, args.new_tokens)
    del model
    peak = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    tokens = args.n * (args.prompt_tokens + args.new_tokens)
    with tempfile.TemporaryDirectory() as logs:
        v32 = vllm_run(model_dir, "float32", prompts, params, tokens, Path(logs))
        v16 = vllm_run(model_dir, "bfloat16", prompts, params, tokens, Path(logs))
    same = [a.token_ids == b.token_ids for a, b in zip(hf32, v32["out"], strict=True)]
    hf_fast = min(hf32_s, hf16_s)
    result = {
        "bench": "generation", "model": str(args.model), "prompts": args.n,
        "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "cpu_capability": cpu_capability(),
        "vllm_speedup": round(hf32_s / v32["seconds"], 2),
        "vllm_bf16_speedup": round(hf_fast / v16["seconds"], 2),
        "greedy_agreement": sum(same) / len(same),
        "server_start_s": round(v32["start"], 1), "server_start_bf16_s": round(v16["start"], 1),
        "hf_best_batch": batch32, "hf_best_batch_bf16": batch16,
        "hf_faster_dtype": "float32" if hf32_s <= hf16_s else "bfloat16",
        "tokens_per_s": {"hf_fp32": round(new_tokens / hf32_s),
                         "hf_bf16": round(new_tokens / hf16_s),
                         "vllm_fp32": round(new_tokens / v32["seconds"]),
                         "vllm_bf16": round(new_tokens / v16["seconds"])},
        "seconds": {"hf_fp32": round(hf32_s, 2), "hf_bf16": round(hf16_s, 2),
                    "vllm_fp32": round(v32["seconds"], 2), "vllm_bf16": round(v16["seconds"], 2)},
        "work_gflop": round(work), "matmul_peak_gflops": {k: round(v) for k, v in peak.items()},
        "gflops": {"hf_fp32": round(work / hf32_s), "hf_bf16": round(work / hf16_s),
                   "vllm_fp32": round(work / v32["seconds"]),
                   "vllm_bf16": round(work / v16["seconds"])},
        # the most any backend could gain over HF here: running at the matmul peak
        "speedup_ceiling": {"fp32": round(peak["fp32"] * hf32_s / work, 2),
                            "bf16": round(peak["bf16"] * hf_fast / work, 2)},
    }  # fmt: skip
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
