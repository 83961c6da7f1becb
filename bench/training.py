"""Bench: forgetflow's unlearning loop: reference memory, step speed against an HF Trainer, and
the cost of scoring the ledger while training.

    python bench/training.py --json                 # the full bench: ~10-15 minutes on 2 cores
    python bench/training.py --json --quick         # tiny sizes, only proves the code runs

Options: --threads N (default 2), --worlds DIR (default: settings' worlds), --forget N (cap the
scoring run's forget rows), --skip memory speed scoring (leave parts out). Every process runs
torch on `--threads` threads, fp32, on the CPU; stdout gets the JSON alone, progress goes to
stderr. The headline figures are repeated at the top level of the JSON.

1. Memory (`memory`; target npo_ref_memory_ratio <= 0.1). A randomly initialised GPT-2 (1024
   wide, 16 layers, 16 heads, dropout 0, in the tiny world's tokenizer and vocabulary: ~203M
   parameters, 773 MiB of fp32 weights; `model_params`, `model_mb`) is saved once; each
   configuration loads it in a fresh process (this script with `--child CONFIG`) and runs
   `unlearn` for 3 AdamW steps of the same 8 rows x 128 tokens: `ga` (grad_ascent, no
   reference), `npo_cached` (npo, retain_weight 0, reference "cached": its peak includes computing
   the cached reference) and `npo_resident` (npo, retain_weight 0, reference "resident": a frozen
   copy of the model). `peak_rss_mb` is each process's ru_maxrss (imports, loading and training;
   MiB, as every *_mb here).
   npo_ref_memory_ratio = (npo_cached - ga) / (npo_resident - ga). `first_forget_loss` checks
   the reference: NPO's first loss is (2/beta) log 2 = 13.8629 while the model equals it.

2. Step speed (`speed`; target step_speed_ratio >= 0.95). A smaller random GPT-2 (512 wide, 8
   layers, dropout 0: ~26M parameters, `speed_model_params`) trains 5 warm-up + 20 timed steps of
   gradient ascent on one 8 x 128-token batch (the same 8 rows every step), from the same weights
   (deepcopies), in two loops with AdamW (lr 1e-5, weight decay 0), a constant schedule and
   max_grad_norm 1.0: forgetflow's `unlearn` (grad_ascent), timed by its `hooks`, and an HF
   `Trainer` whose `compute_loss` returns minus the mean of `lm.sequence_nll` (what grad_ascent
   computes), with logging, evaluation and saving off and a sequential sampler over the rows,
   timed by a TrainerCallback. A step's time is the interval between the ends of two consecutive
   steps (all of the loop's per-step work); the median is taken over the timed steps, and the
   Trainer's on_step_begin -> on_step_end median is reported too. step_speed_ratio = Trainer
   median / forgetflow median (forgetflow's steps/s over the Trainer's) with the Trainer on its
   default `optim="adamw_torch_fused"`, the fused torch.optim.AdamW forgetflow builds;
   `..._vs_plain_adamw` is the same against the Trainer on the unfused `adamw_torch`. That both
   loops do the same work is checked: `loss_max_abs_diff` over every step's loss, and
   `update_cosine` of the two weight updates (1.0: the same).

3. Scoring overhead (`scoring`; target scoring_overhead <= 1.25): bench/ledger_scoring.py says
   how (10 epochs of grad_ascent on the small world, MA of the forget set after every epoch).

`--quick`: a ~5M-parameter model for memory and speed, 2 memory steps, 3 + 3 speed steps and 2
epochs on the tiny world; its JSON has "quick": true and its figures mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from ledger_scoring import log, scoring
from trainer_peer import trainer_steps, update_cosine
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase as Tokenizer

from forgetflow.lm.dtypes import cpu_capability
from forgetflow.lm.tokens import encode
from forgetflow.models.io import load_model, load_tokenizer, save_model
from forgetflow.paths import resolve_paths
from forgetflow.records import Sample
from forgetflow.scenarios.world.build import World, WorldConfig, build_world
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.registry import method_config
from forgetflow.unlearning.state import StepLog

CHILDREN = ("ga", "npo_cached", "npo_resident")
ROWS, TOKENS = 8, 128  # the memory and speed batch
SPEED_LR = 1e-5


@dataclass(frozen=True)
class Sizes:
    memory_model: dict[str, int]
    memory_steps: int
    speed_model: dict[str, int]
    warmup: int
    timed: int
    world: str
    epochs: int


FULL = Sizes(
    memory_model={"n_embd": 1024, "n_layer": 16, "n_head": 16},
    memory_steps=3,
    speed_model={"n_embd": 512, "n_layer": 8, "n_head": 8},
    warmup=5,
    timed=20,
    world="small",
    epochs=10,
)
QUICK = Sizes(
    memory_model={"n_embd": 256, "n_layer": 6, "n_head": 4},
    memory_steps=2,
    speed_model={"n_embd": 256, "n_layer": 6, "n_head": 4},
    warmup=3,
    timed=3,
    world="tiny",
    epochs=2,
)


def params(model: PreTrainedModel) -> int:
    return sum(p.numel() for p in model.parameters())


def mb(count: float) -> float:
    return round(count / 2**20, 1)


def random_model(tokenizer: Tokenizer, shape: dict[str, int]) -> GPT2LMHeadModel:
    """A seeded random GPT-2 in the tokenizer's vocabulary, dropout 0, fp32, eval mode."""
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=TOKENS, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **shape)  # fmt: skip
    return GPT2LMHeadModel(config).eval()


def batch_texts(tokenizer: Tokenizer, world: World, rows: int, tokens: int) -> list[str]:
    """`rows` distinct texts of the world's items that encode to exactly `tokens` tokens (the
    tokenizer's BOS included): windows of all item texts, one after another, decoded."""
    texts = [t for t in world.table("items")["text"].to_pylist() if t]
    stream = [i for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in ids]
    found: list[str] = []
    for start in range(0, len(stream) - tokens, tokens // 2):
        text = tokenizer.decode(stream[start : start + tokens - 1])
        if len(encode(tokenizer, [text])[0]) == tokens and text not in found:
            found.append(text)
            if len(found) == rows:
                return found
    raise SystemExit(f"only {len(found)} texts of exactly {tokens} tokens in {world.root}")


def forget_samples(texts: Sequence[str]) -> list[Sample]:
    return [Sample(f"bench-{i}", "forget", text) for i, text in enumerate(texts)]


# --- 1. memory ---------------------------------------------------------------------------------


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def child(name: str, model_dir: Path, data: Path, steps: int) -> dict[str, object]:
    """One memory configuration, run in this (fresh) process."""
    model, tokenizer = load_model(model_dir)
    loaded = vm_rss_mb()
    forget = forget_samples(json.loads(data.read_text()))
    if name == "ga":
        method, reference = method_config({"name": "grad_ascent"}), "cached"
    else:
        method = method_config({"name": "npo", "retain_weight": 0.0})
        reference = name.removeprefix("npo_")
    config = TrainingConfig(steps=steps, batch_size=len(forget), reference=reference)
    start = time.perf_counter()
    result = unlearn(model, tokenizer, method, config, seed=0, forget=forget)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "rss_after_load_mb": loaded,
        "steps": result.steps,
        "seconds": round(time.perf_counter() - start, 1),
        "first_forget_loss": round(result.logs[0].values["forget_loss"], 4),
    }


def memory(tokenizer: Tokenizer, texts: list[str], sizes: Sizes, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="forgetflow-bench-training-") as scratch:
        model_dir, data = Path(scratch) / "model", Path(scratch) / "rows.json"
        model = random_model(tokenizer, sizes.memory_model)
        count = params(model)
        weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        save_model(model, tokenizer, model_dir)
        del model
        gc.collect()
        data.write_text(json.dumps(texts))
        runs = {}
        for name in CHILDREN:
            log(f"memory: {name} in a fresh process ({count / 1e6:.0f}M parameters)")
            command = [sys.executable, __file__, "--child", name, "--model-dir", str(model_dir),
                       "--data", str(data), "--steps", str(sizes.memory_steps),
                       "--threads", str(threads)]  # fmt: skip
            out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
            runs[name] = json.loads(out.strip().splitlines()[-1])
    peak = {name: runs[name]["peak_rss_mb"] for name in CHILDREN}
    resident_extra = peak["npo_resident"] - peak["ga"]
    return {
        "model_params": count,
        "model_mb": mb(weight_bytes),
        "rows": len(texts),
        "tokens_per_row": TOKENS,
        "steps": sizes.memory_steps,
        "peak_rss_mb": peak,
        "npo_ref_memory_ratio": (
            round((peak["npo_cached"] - peak["ga"]) / resident_extra, 4)
            if resident_extra > 0
            else None
        ),
        "runs": runs,
    }


# --- 2. step speed -----------------------------------------------------------------------------


def step_intervals(ends: Sequence[float], warmup: int) -> list[float]:
    """Times of the steps after the first `warmup`: each from the end of the step before."""
    return [b - a for a, b in zip(ends[warmup - 1 : -1], ends[warmup:], strict=True)]


def forgetflow_steps(
    model: PreTrainedModel, tokenizer: Tokenizer, texts: list[str], steps: int
) -> tuple[list[float], list[float]]:
    """The time at the end of each step, and each step's loss."""
    ends: list[float] = []
    losses: list[float] = []

    def hook(log: StepLog) -> None:
        ends.append(time.perf_counter())
        losses.append(log.values["loss"])

    config = TrainingConfig(steps=steps, batch_size=len(texts), lr=SPEED_LR, optimizer="adamw",
                            max_grad_norm=1.0, schedule="constant")  # fmt: skip
    unlearn(model, tokenizer, method_config({"name": "grad_ascent"}), config, seed=0,
            forget=forget_samples(texts), hooks=[hook])  # fmt: skip
    return ends, losses


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 4)


def speed(tokenizer: Tokenizer, texts: list[str], sizes: Sizes) -> dict:
    base = random_model(tokenizer, sizes.speed_model)
    ids = torch.tensor(encode(tokenizer, texts))
    steps = sizes.warmup + sizes.timed
    log(f"speed: forgetflow, {steps} steps ({params(base) / 1e6:.0f}M parameters)")
    ours_model = copy.deepcopy(base)
    ends, ours_losses = forgetflow_steps(ours_model, tokenizer, texts, steps)
    ours = step_intervals(ends, sizes.warmup)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="forgetflow-bench-trainer-") as scratch:
        for optim in ("adamw_torch", "adamw_torch_fused"):
            log(f"speed: HF Trainer ({optim}), {steps} steps")
            model = copy.deepcopy(base)
            clock, losses = trainer_steps(model, ids, steps, SPEED_LR, optim, Path(scratch))
            inner = [e - b for b, e in zip(clock.begins, clock.ends, strict=True)]
            runs[optim] = (model, losses, step_intervals(clock.ends, sizes.warmup),
                           inner[sizes.warmup :])  # fmt: skip
    same_model, same_losses, same, same_inner = runs["adamw_torch_fused"]
    plain = runs["adamw_torch"][2]
    ours_s, same_s, plain_s = median(ours), median(same), median(plain)
    return {
        "speed_model_params": params(base),
        "rows": ids.shape[0],
        "tokens_per_row": ids.shape[1],
        "warmup_steps": sizes.warmup,
        "timed_steps": sizes.timed,
        "lr": SPEED_LR,
        "forgetflow_step_median_s": ours_s,
        "trainer_step_median_s": same_s,
        "trainer_step_inner_median_s": median(same_inner),
        "trainer_plain_adamw_step_median_s": plain_s,
        "step_speed_ratio": round(same_s / ours_s, 4),
        "step_speed_ratio_vs_plain_adamw": round(plain_s / ours_s, 4),
        "trainer_optim": "adamw_torch_fused",
        # the same work: the losses of every step agree, and so do the weight updates
        "loss_max_abs_diff": max(abs(a - b) for a, b in zip(ours_losses, same_losses, strict=True)),
        "update_cosine": update_cosine(base, ours_model, same_model),
        "forgetflow_steps_s": [round(s, 4) for s in ours],
        "trainer_steps_s": [round(s, 4) for s in same],
        "trainer_plain_adamw_steps_s": [round(s, 4) for s in plain],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=Path, help="folder of worlds (default: settings' worlds)")
    parser.add_argument("--forget", type=int, help="forget rows of the scoring run (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves the code runs")
    parser.add_argument("--skip", nargs="*", default=[], choices=["memory", "speed", "scoring"])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with contextlib.redirect_stdout(sys.stderr):  # stdout: the JSON only (Trainer prints)
        result = measure(args)
    print(json.dumps(result) if args.json or args.child else json.dumps(result, indent=2))


def measure(args: argparse.Namespace) -> dict[str, object]:
    if args.child:
        return child(args.child, args.model_dir, args.data, args.steps)
    sizes = QUICK if args.quick else FULL
    worlds = args.worlds or resolve_paths().worlds
    tiny = build_world(WorldConfig(), worlds)  # its tokenizer and texts for the random models
    tokenizer = load_tokenizer(tiny.model_dir)
    texts = batch_texts(tokenizer, tiny, ROWS, TOKENS)
    result: dict[str, object] = {
        "bench": "training", "quick": args.quick, "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "cpu_capability": cpu_capability(),
        "torch": torch.__version__,
    }  # fmt: skip
    start = time.perf_counter()
    if "memory" not in args.skip:
        result["memory"] = memory(tokenizer, texts, sizes, args.threads)
    if "speed" not in args.skip:
        result["speed"] = speed(tokenizer, texts, sizes)
    if "scoring" not in args.skip:
        result["scoring"] = scoring(worlds, sizes.world, sizes.epochs, args.forget)
    for part, key in (("memory", "npo_ref_memory_ratio"), ("speed", "step_speed_ratio"),
                      ("scoring", "scoring_overhead")):  # fmt: skip
        if part in result:
            result[key] = result[part][key]  # type: ignore[index]
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


if __name__ == "__main__":
    main()
