"""Bench: how UnSTAR's self-taught loop could hand a vLLM server the model after each round.

    python bench/lora_reload.py --json [--model MODEL] [--rounds R] [--prompts P] [--seed S]

Default: SmolLM2-135M-Instruct (`forgetflow models pull smollm2-135m-instruct` first), fp32, on
CPU, R = 3 rounds, P = 128 probe prompts. Each round r trains nothing: its adapter is a peft LoRA
on the base model with forgetflow's LoraSettings defaults (rank 8, alpha 16, peft's default
modules for the architecture: q_proj and v_proj for Llama), built with `init_lora_weights=False`
(A and B drawn as nn.Linear draws them, under torch.manual_seed(seed * 1000 + r)) and lora_B
then scaled by LORA_B_SCALE, so that the model changes (at 0.1, 5 of 16 capitals questions of
SmolLM2-135M get another greedy answer) but still speaks. Each round's adapter is built anew
on the base (rounds do not stack), identically for both ways.

- restart: merge the adapter into the weights (peft `merge_and_unload`) and save the model with
  its tokenizer (`forgetflow.models.io.save_model`) to a temporary directory (`save_s`: merge +
  save), then start a fresh server on it (`start_s`: the writers' server,
  forgetflow/antisamples/unstar/served.py: writer_server), probe it, stop it.
- runtime: one server, the same one with `--enable-lora --max-lora-rank 8 --max-loras 1` and
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, started once (`runtime_start_s`) and probed once on the
  base model ("model", `base_probe_s`; it also warms the server up); per round the adapter
  is saved (peft `save_pretrained`, `save_s`), the previous round's adapter unloaded
  (POST /v1/unload_lora_adapter) and this one loaded (POST /v1/load_lora_adapter, name
  "round<r>"; `load_s`: unload + load); the probe's requests name "round<r>" as their model.
  vLLM-CPU runs a server with LoRA enabled without torch.compile (its CPU platform sets the
  compilation mode to NONE), so its probes may be slower.
- probe (`probe_s`): UnSTAR's probe, greedy, 16 new tokens, of P distinct questions in the
  model's chat template (forgetflow.lm.prompts.question_style): the capitals' generator
  rephrasings (forgetflow/scenarios/quiz_facts/question_templates.py), the first one over every
  capital, then the next ones, then the other relations'; all in one generate call, as sent
  right after the server start or the adapter load (no warm-up: a round pays it).
- agreement: the share of the P probe answers whose token ids are the same in both ways in the
  round (fp32: merged weights against base + adapter should mostly agree), the first prompt
  index where they differ (null if none), and `changed_from_base`: the share of the round's
  answers (restart's) that differ from the base model's, which shows the adapter took effect.
- hf: the round's model (the adapter merged) probed in-process by forgetflow's HFBackend at its
  default batch, as the procedure probes by default (`probe_s`); `hf_share` in the agreement:
  the share of its answers identical to the restart server's.
- totals: per way, the sum over rounds of save + start (restart) or load (runtime) + probe; the
  runtime server's one-time start is `runtime_start_s`, added in `runtime_with_start`.

A way that fails (a server that does not start, an adapter vLLM refuses) reports
{"error": "<one line>", "log": "<server log>"} instead of its figures: the bench still finishes.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase as Tokenizer

from forgetflow.antisamples.unstar.probe import PROBE_TOKENS  # greedy, 16 new tokens
from forgetflow.antisamples.unstar.served import WRITER_SERVER_ARGS, one_line, writer_server
from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.generation.server import ServerConfig, ServerError
from forgetflow.generation.vllm import VLLMBackend, VLLMRequestError
from forgetflow.lm.prompts import question_style
from forgetflow.lm.tokens import prompt_ids
from forgetflow.models.io import load_model, model_path, save_model
from forgetflow.records import Completion
from forgetflow.scenarios.quiz_facts.facts import RELATIONS, load_facts
from forgetflow.scenarios.quiz_facts.question_templates import QUIZ_GENERATOR
from forgetflow.unlearning.config import LoraSettings

LORA_B_SCALE = 0.1  # the random adapter's lora_B is scaled by this (see the module)
LORA_ARGS = ("--enable-lora", "--max-lora-rank", "8", "--max-loras", "1")
LORA_ENV = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
Prompts = list[list[int]]
WayError = (ServerError, VLLMRequestError, httpx.HTTPError)


def questions(count: int) -> list[str]:
    """`count` distinct questions: the capitals' rephrasings (each template over every capital,
    template by template), then the other relations' likewise."""
    facts = load_facts()
    order = ("capital", *(r for r in RELATIONS if r != "capital"))
    seen: dict[str, None] = {}
    for relation in order:
        subjects = [f.subject for f in facts if f.relation == relation]
        for template in QUIZ_GENERATOR.relations[relation].rephrase:
            for subject in subjects:
                seen.setdefault(template.format(s=subject))
                if len(seen) == count:
                    return list(seen)
    raise ValueError(f"the quiz facts give {len(seen)} distinct questions, not {count}")


def probe_ids(tokenizer: Tokenizer, count: int) -> Prompts:
    """The probe's prompts: `count` questions in the model's chat template, as token ids."""
    style = question_style(tokenizer)
    return prompt_ids(tokenizer, [style.prompt(q) for q in questions(count)])


def round_adapter(base: PreTrainedModel, seed: int, round_: int) -> PeftModel:
    """Round `round_`'s adapter on a copy of the base (see the module): LoraSettings' defaults,
    random A and B under the round's seed, lora_B scaled by LORA_B_SCALE."""
    settings = LoraSettings()
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha,
                        lora_dropout=settings.dropout, target_modules=settings.target_modules,
                        init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
    torch.manual_seed(seed * 1000 + round_)
    model = get_peft_model(copy.deepcopy(base), config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(LORA_B_SCALE)
    model.eval()
    return model  # type: ignore[return-value]


def failure(err: Exception, log: Path) -> dict:
    """A way's error in one line, with its server's log."""
    text = one_line(err) if isinstance(err, ServerError) else str(err).splitlines()[0]
    return {"error": text[:500], "log": str(log)}


def timed_probe(backend: GenerationBackend, prompts: Prompts, params: SamplingParams) -> tuple:
    """(seconds, completions) of one generate call of every probe prompt."""
    begin = time.perf_counter()
    done = backend.generate(prompts, params)
    return time.perf_counter() - begin, done


def restart_round(
    base: PreTrainedModel, tokenizer: Tokenizer, round_: int, args: argparse.Namespace,
    work: tuple[Prompts, SamplingParams, Path],
) -> tuple[dict, list[Completion] | None]:  # fmt: skip
    """Merge and save round `round_`'s model, start a server on it, probe it, stop it."""
    prompts, params, logs = work
    log = logs / f"restart-round{round_}.log"
    model = round_adapter(base, args.seed, round_)
    directory = Path(tempfile.mkdtemp(prefix=f"bench-lora-merged{round_}-"))
    try:
        begin = time.perf_counter()
        save_model(model.merge_and_unload(), tokenizer, directory)
        save_s = time.perf_counter() - begin
        del model
        backend = VLLMBackend(tokenizer, server=writer_server(directory, log))
        begin = time.perf_counter()
        with backend:
            start_s = time.perf_counter() - begin
            probe_s, done = timed_probe(backend, prompts, params)
    except WayError as err:
        return failure(err, log), None
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {"save_s": round(save_s, 2), "start_s": round(start_s, 2),
            "probe_s": round(probe_s, 2)}, done  # fmt: skip


def hf_round(
    base: PreTrainedModel, tokenizer: Tokenizer, round_: int, args: argparse.Namespace,
    work: tuple[Prompts, SamplingParams, Path],
) -> tuple[dict, list[Completion]]:  # fmt: skip
    """Round `round_`'s model probed in-process, as the procedure probes by default (HFBackend,
    its default batch; the adapter merged)."""
    prompts, params, _ = work
    model = round_adapter(base, args.seed, round_).merge_and_unload()
    probe_s, done = timed_probe(HFBackend(model, tokenizer), prompts, params)
    return {"probe_s": round(probe_s, 2)}, done


def lora_server(model_dir: Path, log: Path) -> ServerConfig:
    """The writers' server with runtime LoRA updating: one adapter of rank at most 8 at a time."""
    config = writer_server(model_dir, log)
    return dataclasses.replace(
        config, extra_args=(*WRITER_SERVER_ARGS, *LORA_ARGS), env=config.env | LORA_ENV
    )


def post(url: str, path: str, body: dict) -> None:
    """POST `body` to the server's `path`; a non-200 answer is a VLLMRequestError."""
    response = httpx.post(f"{url}{path}", json=body, timeout=None)
    if response.status_code != 200:
        raise VLLMRequestError(f"{path} answered {response.status_code}: {response.text[:300]}")


def runtime_round(
    base: PreTrainedModel, backend: VLLMBackend, round_: int, args: argparse.Namespace,
    work: tuple[Prompts, SamplingParams, Path],
) -> tuple[dict, list[Completion]]:  # fmt: skip
    """Save round `round_`'s adapter, swap it in for the previous round's, probe through it."""
    prompts, params, adapters = work
    model = round_adapter(base, args.seed, round_)
    directory = adapters / f"round{round_}"
    begin = time.perf_counter()
    model.save_pretrained(directory)
    save_s = time.perf_counter() - begin
    del model
    url = str(backend.url)
    begin = time.perf_counter()
    if round_ > 1:
        post(url, "/v1/unload_lora_adapter", {"lora_name": f"round{round_ - 1}"})
    post(url, "/v1/load_lora_adapter", {"lora_name": f"round{round_}", "lora_path": str(directory)})
    load_s = time.perf_counter() - begin
    served = VLLMBackend(backend.tokenizer, url=url, model=f"round{round_}")
    probe_s, done = timed_probe(served, prompts, params)
    return {"save_s": round(save_s, 2), "load_s": round(load_s, 2),
            "probe_s": round(probe_s, 2)}, done  # fmt: skip


def runtime_way(
    base: PreTrainedModel, tokenizer: Tokenizer, model_dir: Path, args: argparse.Namespace,
    work: tuple[Prompts, SamplingParams, Path],
) -> tuple[dict, list[dict], list[list[Completion] | None]]:  # fmt: skip
    """The LoRA server started once and probed on the base model ({start_s, base_probe_s} or
    {error, log}), then every round through it; the answers: the base's, then each round's."""
    prompts, params, logs = work
    log = logs / "runtime.log"
    backend = VLLMBackend(tokenizer, server=lora_server(model_dir, log))
    adapters = Path(tempfile.mkdtemp(prefix="bench-lora-adapters-"))
    rounds: list[dict] = []
    answers: list[list[Completion] | None] = []
    begin = time.perf_counter()
    try:
        with backend:
            start = {"start_s": round(time.perf_counter() - begin, 2), "log": str(log)}
            base_s, done = timed_probe(backend, prompts, params)
            start["base_probe_s"] = round(base_s, 2)
            answers.append(done)
            for round_ in range(1, args.rounds + 1):
                try:
                    figures, done = runtime_round(base, backend, round_, args,
                                                  (prompts, params, adapters))  # fmt: skip
                except (VLLMRequestError, httpx.HTTPError) as err:
                    figures, done = failure(err, log), None
                rounds.append(figures)
                answers.append(done)
    except WayError as err:
        start = failure(err, log)
    finally:
        shutil.rmtree(adapters, ignore_errors=True)
    missing = args.rounds - len(rounds)
    answers += [None] * (args.rounds + 1 - len(answers))
    return start, rounds + [start] * missing, answers


def agreement(
    restart: list[Completion] | None, runtime: list[Completion] | None,
    base: list[Completion] | None,
) -> dict:  # fmt: skip
    """The share of probe answers with identical token ids in both ways, the first index that
    differs, and the share of the round's answers that differ from the base model's."""
    figures: dict = {"share": None, "first_difference": None, "changed_from_base": None}
    if restart is not None and runtime is not None:
        same = [a.token_ids == b.token_ids for a, b in zip(restart, runtime, strict=True)]
        figures["share"] = round(sum(same) / len(same), 3)
        figures["first_difference"] = next((i for i, s in enumerate(same) if not s), None)
    served = restart if restart is not None else runtime
    if served is not None and base is not None:
        changed = [a.token_ids != b.token_ids for a, b in zip(served, base, strict=True)]
        figures["changed_from_base"] = round(sum(changed) / len(changed), 3)
    return figures


def total(rounds: list[dict]) -> float | None:
    """The sum of every timed figure over the rounds; None when a round failed."""
    sums = 0.0
    for figures in rounds:
        if "error" in figures:
            return None
        sums += sum(v for k, v in figures.items() if k.endswith("_s"))
    return round(sums, 2)


def run(args: argparse.Namespace) -> dict:
    model_dir = model_path(args.model)
    base, tokenizer = load_model(model_dir)
    prompts = probe_ids(tokenizer, args.prompts)
    params = SamplingParams(max_tokens=PROBE_TOKENS, temperature=0.0, seed=args.seed)
    logs = Path(tempfile.mkdtemp(prefix="bench-lora-reload-"))  # kept: the servers' logs
    work = (prompts, params, logs)
    start, runtime, runtime_done = runtime_way(base, tokenizer, model_dir, args, work)
    restart, restart_done, hf, hf_done = [], [], [], []
    for round_ in range(1, args.rounds + 1):
        figures, done = restart_round(base, tokenizer, round_, args, work)
        restart.append(figures)
        restart_done.append(done)
        figures, done = hf_round(base, tokenizer, round_, args, work)
        hf.append(figures)
        hf_done.append(done)
    rounds = [
        {"round": r + 1, "restart": restart[r], "runtime": runtime[r], "hf": hf[r],
         "agreement": agreement(restart_done[r], runtime_done[r + 1], runtime_done[0])
         | {"hf_share": agreement(restart_done[r], hf_done[r], None)["share"]}}
        for r in range(args.rounds)
    ]  # fmt: skip
    runtime_total = total(runtime)
    with_start = None
    if runtime_total is not None and "start_s" in start:
        with_start = round(runtime_total + start["start_s"], 2)
    return {
        "bench": "lora_reload", "model": str(args.model), "dtype": "float32",
        "rounds": args.rounds, "prompts": args.prompts, "new_tokens": PROBE_TOKENS,
        "lora_b_scale": LORA_B_SCALE, "runtime_start_s": start.get("start_s"),
        "runtime_server": start, "per_round": rounds,
        "totals": {"restart": total(restart), "runtime": runtime_total,
                   "runtime_with_start": with_start, "hf": total(hf)},
        "logs": str(logs), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a directory or name")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
