"""Bench: UnSTAR's rationale writing through a vLLM server against HF, on one CPU.

    python bench/antisamples.py --json [--model MODEL] [--prompts P] [--new-tokens K]
                                       [--server-args='--max-num-seqs 128 ...']

What ModelRationaleWriter asks of its backend: P rationale prompts (the quiz facts' fixed
(question, falsified answer) pairs, forgetflow/scenarios/quiz_facts/rationale_items.py, in the
model's chat template), greedy, at most K new tokens, EOS honoured. Default: SmolLM2-135M-Instruct
(`forgetflow models pull smollm2-135m-instruct` first), fp32, 256 prompts, K = 64 (the writer's).

- HF: forgetflow's HFBackend; the batch size is the fastest of a sweep on the first prompts, then
  the timed full run at it (a batch decodes until its last row ends).
- vLLM: the server the writers start (forgetflow/antisamples/unstar/served.py: writer_server,
  with forgetflow's CPU settings), or its SERVER_ARGS replaced by `--server-args`; its start
  timed on its own (`server_start_s`); every prompt in one generate call, as the writer asks,
  after a warm-up on other prompts.
- Useful work: the generated tokens kept, each completion's up to and including its EOS
  (`kept_tokens`; HF's define the work). minimal_work: the multiply-add work counting each
  prompt's positions once (one LM head at its end, for the first new token) and each kept token
  after the first once, fed back with its LM head. matmul_peak_gflops: this CPU's fp32
  matrix-multiply rate. speedup_ceiling = HF seconds x peak / minimal_work; ceiling_share =
  speedup / speedup_ceiling, which equals vllm_peak_share = minimal_work / (vLLM seconds x peak).
- greedy_agreement: the share of prompts whose kept tokens are identical in both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from audit import COUNTERS, counters, metrics_on
from generation import generation_gflop, hf_seconds, matmul_gflops
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase as Tokenizer

from forgetflow.antisamples.unstar.model_writers import (
    RATIONALE_TOKENS,
    chat_prompt,
    rationale_prompt,
)
from forgetflow.antisamples.unstar.served import WRITER_SERVER_ARGS, writer_server
from forgetflow.generation.base import SamplingParams
from forgetflow.generation.vllm import VLLMBackend
from forgetflow.lm.dtypes import cpu_capability
from forgetflow.lm.tokens import prompt_ids
from forgetflow.models.io import load_model, load_tokenizer, model_path
from forgetflow.records import Completion
from forgetflow.scenarios.quiz_facts.rationale_items import rationale_items

SWEEP = (16, 32, 64, 128)
SWEEP_PROMPTS = 128  # the sweep decodes the first 128 prompts at each batch size
WARMUP_PROMPTS = 4  # taken after the measured ones
Prompts = list[list[int]]


def rationale_ids(tokenizer: Tokenizer, count: int) -> Prompts:
    """The token ids of the first `count` rationale prompts, as the writer renders them."""
    chat = chat_prompt(tokenizer)
    texts = [rationale_prompt(chat, q, wrong) for _, q, wrong in rationale_items(count)]
    return prompt_ids(tokenizer, texts)


def kept(completion: Completion) -> int:
    """Tokens a completion keeps: up to and including its EOS (both backends return it)."""
    return len(completion.token_ids)


def minimal_gflop(model: PreTrainedModel, prompts: Prompts, done: list[Completion]) -> float:
    """Each prompt's positions once with one LM head at its end, then each kept token after the
    first fed back, with its LM head (generation_gflop for one prompt and its kept tokens)."""
    return sum(
        generation_gflop(model, 1, len(p), kept(c)) for p, c in zip(prompts, done, strict=True)
    )


def hf_best(
    model: PreTrainedModel, tokenizer: Tokenizer, prompts: Prompts, params: SamplingParams
) -> tuple[int, float, list[Completion]]:
    """The sweep's fastest batch size on the first prompts, then the timed full run at it."""
    first = prompts[:SWEEP_PROMPTS]
    sizes = [b for b in SWEEP if b <= len(first)] or [len(first)]
    sweep = {b: hf_seconds(model, tokenizer, first, params, b)[0] for b in sizes}
    best = min(sweep, key=sweep.__getitem__)
    seconds, done = hf_seconds(model, tokenizer, prompts, params, best)
    return best, seconds, done


def vllm_run(
    model_dir: Path, prompts: Prompts, params: SamplingParams, extra: tuple[str, ...]
) -> dict:
    """The writers' server: its start, a warm-up on the last prompts, the timed run on the others
    (one generate call) with vLLM's counters' change over it."""
    measured, warmup = prompts[:-WARMUP_PROMPTS], prompts[-WARMUP_PROMPTS:]
    logs = Path(tempfile.mkdtemp(prefix="bench-antisamples-"))  # kept: the server's log
    config = writer_server(model_dir, logs / "vllm.log")
    config = dataclasses.replace(config, extra_args=extra)
    backend = VLLMBackend(load_tokenizer(model_dir), server=config)
    start = time.perf_counter()
    with metrics_on(), backend:
        started = time.perf_counter() - start
        backend.generate(warmup, params)  # the first requests compile kernels
        before = counters(str(backend.url))
        begin = time.perf_counter()
        done = backend.generate(measured, params)
        seconds = time.perf_counter() - begin
        after = counters(str(backend.url))
    change = {key: round(after[key] - before[key]) for key in COUNTERS}
    return {"seconds": seconds, "start": started, "done": done, "counters": change,
            "log": str(config.log_path)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a directory or name")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=RATIONALE_TOKENS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-args", help="vLLM arguments: --server-args='--max-num-seqs 128'")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


def run(args: argparse.Namespace) -> dict:
    model_dir = model_path(args.model)
    model, tokenizer = load_model(model_dir)
    prompts = rationale_ids(tokenizer, args.prompts + WARMUP_PROMPTS)
    measured = prompts[: args.prompts]
    params = SamplingParams(max_tokens=args.new_tokens, temperature=0.0, seed=args.seed)
    batch, hf_s, hf_done = hf_best(model, tokenizer, measured, params)
    work = minimal_gflop(model, measured, hf_done)
    del model
    peak = matmul_gflops(torch.float32)
    extra = tuple(args.server_args.split()) if args.server_args is not None else WRITER_SERVER_ARGS
    vllm = vllm_run(model_dir, prompts, params, extra)
    same = [a.token_ids == b.token_ids for a, b in zip(hf_done, vllm["done"], strict=True)]
    hf = {"batch": batch, "seconds": hf_s, "kept": sum(kept(c) for c in hf_done)}
    vllm["kept"] = sum(kept(c) for c in vllm["done"])
    return figures(args, hf, vllm, work, peak) | {
        "greedy_agreement": round(sum(same) / len(same), 3), "server_args": list(extra),
        "prompt_tokens": sum(len(p) for p in measured),
    }  # fmt: skip


def figures(args: argparse.Namespace, hf: dict, vllm: dict, work: float, peak: float) -> dict:
    hf_s, vllm_s = hf["seconds"], vllm["seconds"]
    speedup, ceiling = hf_s / vllm_s, hf_s * peak / work
    return {
        "bench": "antisamples", "model": str(args.model), "dtype": "float32",
        "prompts": args.prompts, "new_tokens": args.new_tokens,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "cpu_capability": cpu_capability(),
        "speedup": round(speedup, 2), "speedup_ceiling": round(ceiling, 2),
        "ceiling_share": round(speedup / ceiling, 3),
        "vllm_peak_share": round(work / (vllm_s * peak), 3),
        "minimal_work": round(work, 1), "matmul_peak_gflops": round(peak),
        "kept_tokens": {"hf": hf["kept"], "vllm": vllm["kept"]},
        "vllm_counters": vllm["counters"], "server_start_s": round(vllm["start"], 1),
        "hf_best_batch": hf["batch"], "vllm_log": vllm["log"],
        "seconds": {"hf": round(hf_s, 2), "vllm": round(vllm_s, 2)},
        "kept_tokens_per_s": {"hf": round(hf["kept"] / hf_s), "vllm": round(vllm["kept"] / vllm_s)},
    }  # fmt: skip


if __name__ == "__main__":
    main()
