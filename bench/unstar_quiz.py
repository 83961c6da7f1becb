"""UnSTAR against GA, NPO and SimNPO on a pretrained model's quiz facts (issue: UnSTAR, the
SmolLM2-135M acceptance), every method on the same phrasings and the same trained keep-probes:

    python bench/unstar_quiz.py --targets 3 --validation 2 --json

Needs `forgetflow models pull smollm2-135m-instruct` (the default `--model`). The targets are
capitals the model answers in the most of their 4 completion wordings (`facts.build_probes`,
as bench/facts.py picks them), each with its subject's other known facts (its continent) and 6
other known capitals as keep-probes, split with the seed into a trained and an evaluated half
(`scenarios/quiz_facts/fact_request.py`); every other known fact is the general set. The first
`--validation` targets tune each method's learning rate (the same grid for every method; the
score as in bench/unstar_world.py), the others are reported: targeted questions answered after
(QUIZ_EVALUATION's questions by variant type; a target and type qualify where the model before
answers every question of it), subject-neighbour, answer-neighbour and general retention (kept
among those answered before), each with n and a 95% Wilson interval. UnSTAR runs also report
their rounds, accepted and rejected anti-samples and the share of accepted ones whose
rationale a model wrote. There is no retain model for pretrained facts: compare with before.

Methods (`--methods`):
- unstar-templated: templates write the questions and the falsified answers, the `--model`
  (SmolLM2-135M-Instruct) writes the rationales;
- unstar: the paper's roles, the model being unlearned writes all three;
- unstar-templated:none: the rationale-free ablation;
- grad_ascent, npo, simnpo, idk_dpo (any registered loss method by name) on the same generated
  questions with the true answer (`--baseline-steps` steps), npo:single on the targets' own
  questions only.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from unstar_world import TEMPLATE, measure, run_method, subset, summary

from forgetflow.antisamples.unstar.writers import RoleSettings, WriterSettings
from forgetflow.models.io import load_model, model_path
from forgetflow.scenarios.quiz_facts.fact_files import CachedProbe
from forgetflow.scenarios.quiz_facts.fact_request import quiz_fact_request
from forgetflow.scenarios.quiz_facts.facts import build_probes, load_facts

LR_GRID = (1e-5, 1e-4, 1e-3)
METHODS = ("unstar-templated", "unstar", "unstar-templated:none", "grad_ascent", "npo", "simnpo",
           "npo:single")  # fmt: skip


def roles(model: str) -> dict[str, RoleSettings]:
    rationales = WriterSettings(generator="model", model=model)
    return {"unstar-templated": RoleSettings(questions=TEMPLATE, answers=TEMPLATE,
                                             rationales=rationales),
            "unstar": RoleSettings()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--targets", type=int, default=3)
    parser.add_argument("--validation", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--lr-grid", default=",".join(map(str, LR_GRID)))
    parser.add_argument("--baseline-steps", type=int, default=30)
    parser.add_argument("--unstar-full", action="store_true", help="train every weight")
    parser.add_argument("--steps-rule", default="twice_accepted")
    parser.add_argument("--validation-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    base, tokenizer = load_model(model_path(args.model))
    facts = load_facts()
    sets = build_probes(facts, CachedProbe(base, tokenizer), targets=args.targets + args.validation,
                        retain_share=0.0, seed=args.seed)  # fmt: skip
    drawn = quiz_fact_request(sets, facts, args.seed)
    ids = [t.target_id for t in drawn.request.targets]
    val = subset(drawn, set(ids[: args.validation]))
    rep = subset(drawn, set(ids[args.validation :]))
    before = measure(base, tokenizer, rep)
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    results = {"model": args.model, "targets": ids[args.validation :],
               "validation_targets": ids[: args.validation], "general": len(drawn.rest),
               "methods": {}, "settings": settings}  # fmt: skip
    results["before"] = summary(before, before)
    print(json.dumps(results["before"]), file=sys.stderr)
    for name in args.methods.split(","):
        run = run_method(name, base, tokenizer, val, rep, args, roles(args.model))
        figures = summary(before, run["after"]) if "after" in run else {}
        results["methods"][name] = {**{k: v for k, v in run.items() if k != "after"},
                                    **figures}  # fmt: skip
    print(json.dumps(results, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
