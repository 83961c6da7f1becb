"""Bench: cutting one pretrained fact out of SmolLM2-135M-Instruct with the baseline methods.

    python bench/facts.py --json [--model M] [--methods grad_ascent,npo] [--steps N]
                                 [--lr X [X ...]] [--targets K] [--seed S] [--table FILE]

1. Probes: every quiz fact (forgetflow/scenarios/quiz_facts/quiz_facts.tsv) is asked in its first
   wording; the
   JSON's `probes` says how many the model answers, per relation (greedy, 8 new tokens, the
   continuation must start with an accepted spelling). `build_probes` then picks K targets
   (country capitals the model answers in the most of 4 wordings), each with neighbours to keep
   (the subject's other known facts, e.g. its continent, and 6 other known capitals), and splits
   the other known facts into general probes and retain rows (25%, per relation). `--table`
   saves the sets as Parquet.
2. Runs: for each learning rate (default 3e-6 and 1e-5, 10 steps each: at 3e-6 the targets
   are already cut), method and target, a deep copy of the model is unlearned with
   `unlearning.loop.unlearn` (AdamW, constant lr, batch of the target's 3 trained wordings as
   QA rows, trained on the answer tokens; GradDiff, NPO, SimNPO and IdkDPO also draw 3 retain rows
   per step; every method config is the registry's default), then asked again:
   - targeted accuracy: share of the target's 4 wordings answered (before: the same, unlearned);
     `held_out_after`: the 4th wording alone, never trained on;
   - neighbour retention: share of the target's neighbours still answered (all were before);
     `subject_` and `answer_neighbour_retention` split it;
   - general retention: share of the general probes still answered (all were before).
   Figures are pooled over the targets; `train_s` and `eval_s` are per run. Progress goes to
   stderr, the JSON alone to stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase as Tokenizer

from forgetflow.generation.base import SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.dtypes import cpu_capability
from forgetflow.models.io import load_model
from forgetflow.scenarios.quiz_facts.fact_files import CachedProbe
from forgetflow.scenarios.quiz_facts.facts import (
    RELATIONS,
    WORDINGS,
    ProbeSets,
    RealFact,
    Target,
    build_probes,
    forget_samples,
    knows,
    load_facts,
    probe,
    probes_table,
    prompt,
    retain_samples,
)
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.registry import METHODS, method_config

NO_RETAIN = frozenset({"grad_ascent"})  # methods without a retain term


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def probe_counts(facts: Sequence[RealFact], sets: ProbeSets, seconds: float) -> dict:
    per_relation = {
        r: {"facts": sum(f.relation == r for f in facts),
            "known": sum(f.relation == r for f in sets.known)}
        for r in RELATIONS
    }  # fmt: skip
    targets = [{"fact": t.fact.fact_id, "answer": t.fact.answer,
                "known_wordings": list(t.known_wordings),
                "subject_neighbours": [f.fact_id for f in t.subject_neighbours],
                "answer_neighbours": [f.fact_id for f in t.answer_neighbours]}
               for t in sets.targets]  # fmt: skip
    return {"facts": len(facts), "known": len(sets.known), "per_relation": per_relation,
            "targets": targets, "general": len(sets.general), "retain": len(sets.retain),
            "probe_s": round(seconds, 1)}  # fmt: skip


def evaluate(model: PreTrainedModel, tokenizer: Tokenizer, target: Target, general) -> dict:
    """The unlearned model's answers: per wording of the target, its neighbours (with their
    continuations), the general set."""
    wordings = [probe(model, tokenizer, [target.fact], wording=w)[0] for w in range(WORDINGS)]
    backend = HFBackend(model, tokenizer, batch_size=64)
    asked = [target.fact, *target.neighbours]
    texts = [
        c.text for c in backend.generate([prompt(f) for f in asked], SamplingParams(max_tokens=8))
    ]
    known = [knows(f, text) for f, text in zip(asked, texts, strict=True)]
    split = 1 + len(target.subject_neighbours)
    return {"wordings": wordings, "subject_neighbours": known[1:split],
            "answer_neighbours": known[split:], "general": probe(model, tokenizer, general),
            "continuations": dict(zip([f.fact_id for f in asked], texts, strict=True))}  # fmt: skip


def one_run(model, tokenizer, name: str, target: Target, sets: ProbeSets, args) -> dict:
    copied = copy.deepcopy(model)
    retain = () if name in NO_RETAIN else retain_samples(sets.retain)
    training = TrainingConfig(steps=args.steps, lr=args.lr, batch_size=3)
    start = time.perf_counter()
    result = unlearn(copied, tokenizer, method_config({"name": name}), training, args.seed,
                     forget=forget_samples(target.fact), retain=retain)  # fmt: skip
    trained = time.perf_counter()
    unlearned = result.model if result.model is not None else copied
    unlearned.eval()
    answers = evaluate(unlearned, tokenizer, target, sets.general)
    done = time.perf_counter()
    last = result.logs[-1].values if result.logs else {}
    return {"target": target.fact.fact_id, **answers, "steps": result.steps,
            "last_loss": last.get("loss"), "train_s": round(trained - start, 2),
            "eval_s": round(done - trained, 2)}  # fmt: skip


def share(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summary(runs: list[dict], sets: ProbeSets) -> dict:
    def pooled(key: str) -> list[bool]:
        return [v for run in runs for v in run[key]]

    before = [v for t in sets.targets for v in t.known_wordings]
    by_relation = {}
    for relation in RELATIONS:
        index = [i for i, f in enumerate(sets.general) if f.relation == relation]
        by_relation[relation] = share([run["general"][i] for run in runs for i in index])
    return {
        "targeted_before": share(before),
        "targeted_after": share(pooled("wordings")),
        "held_out_after": share([run["wordings"][-1] for run in runs]),
        "neighbour_retention": share(pooled("subject_neighbours") + pooled("answer_neighbours")),
        "subject_neighbour_retention": share(pooled("subject_neighbours")),
        "answer_neighbour_retention": share(pooled("answer_neighbours")),
        "general_retention": share(pooled("general")),
        "general_retention_by_relation": by_relation,
        "train_s": round(sum(r["train_s"] for r in runs) / len(runs), 2),
        "eval_s": round(sum(r["eval_s"] for r in runs) / len(runs), 2),
        "runs": runs,
    }


def run_setting(model, tokenizer, sets: ProbeSets, methods: list[str], args) -> dict:
    results = {}
    for name in methods:
        runs = []
        for target in sets.targets:
            runs.append(one_run(model, tokenizer, name, target, sets, args))
            log(f"lr {args.lr} {name} {target.fact.fact_id}: wordings {runs[-1]['wordings']}, "
                f"train {runs[-1]['train_s']} s, eval {runs[-1]['eval_s']} s")  # fmt: skip
        results[name] = summary(runs, sets)
        log(f"lr {args.lr} {name}: " + json.dumps({k: v for k, v in results[name].items()
                                                   if k != "runs"}))  # fmt: skip
    return {"lr": args.lr, "steps": args.steps, "methods": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated names")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lr", type=float, nargs="+", default=[3e-6, 1e-5])
    parser.add_argument("--targets", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table", type=Path, help="save the probe sets as Parquet here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model, tokenizer = load_model(args.model)
    facts = load_facts()
    sets = build_probes(facts, CachedProbe(model, tokenizer), targets=args.targets, seed=args.seed)
    counts = probe_counts(facts, sets, time.perf_counter() - start)
    log(f"probes: {counts['known']} of {counts['facts']} facts known; targets "
        f"{[t['fact'] for t in counts['targets']]}")  # fmt: skip
    if args.table is not None:
        pq.write_table(probes_table(sets), args.table)
    settings = [run_setting(model, tokenizer, sets, args.methods.split(","),
                            argparse.Namespace(steps=args.steps, lr=lr, seed=args.seed))
                for lr in args.lr]  # fmt: skip
    out = {"model": args.model, "batch_size": 3, "seed": args.seed, "threads": args.threads,
           "cpu_capability": cpu_capability(),
           "probes": counts, "settings": settings,
           "wall_s": round(time.perf_counter() - start, 1)}  # fmt: skip
    print(json.dumps(out, indent=2) if args.json else json.dumps(out))


if __name__ == "__main__":
    main()
