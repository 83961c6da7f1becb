"""UnSTAR against GA, NPO and SimNPO on a world's facts (issue: UnSTAR, fine-grained targeted
unlearning), every method on the same phrasings and the same trained keep-probes:

    python bench/unstar_world.py --size small --targets 8 --json

draws K targets (retained facts seen >= 8 times that the world's model answers on its trained
question and its untrained paraphrase) plus `--validation` more for tuning, with their
keep-probes split into a trained and an evaluated half; tunes each method's learning rate on the
validation targets (the grid below, the same for every method; the score: targeted accuracy on
the validation targets' evaluation questions plus the share of their evaluated keep-probes
lost), then runs each on the reported targets. It prints, per method and for the model before
and the targets-retain model (`--targets-retain`, trained without the targets' facts): the
targeted questions answered by variant type (only target and type pairs the model before
answers >= 90% qualify; the count is printed), the evaluated keep-probes kept (subject-only and
object-only), and the rest of the retain QA kept, each with n and a 95% Wilson interval.

Methods (`--methods`): unstar (templates write every role: the world's GPT-2 writes no
instructions), unstar:none (the rationale-free ablation), grad_ascent, npo and simnpo on the
same generated questions with the true answer (`--baseline-steps` steps), and npo:single (the
targets' own questions only: the single-question baseline).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import torch

from forgetflow.antisamples.unstar.facts import Question
from forgetflow.antisamples.unstar.keep import DrawnFacts
from forgetflow.antisamples.unstar.probe import ask
from forgetflow.antisamples.unstar.template_writers import TemplateQuestionWriter
from forgetflow.antisamples.unstar.writers import RoleSettings, WriterSettings
from forgetflow.generation.hf import HFBackend
from forgetflow.intervals import wilson
from forgetflow.lm.prompts import QuestionStyle, question_style
from forgetflow.models.io import load_model
from forgetflow.records import Sample
from forgetflow.scenarios.world.build import World, build_world, world_config
from forgetflow.scenarios.world.fact_draw import draw_world_facts, model_answers
from forgetflow.unlearning.config import LoraSettings, TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.registry import method_config
from forgetflow.unlearning.methods.unstar import UnstarConfig

QUALIFY = 0.9
LR_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
TEMPLATE = WriterSettings(generator="template")
METHODS = ("unstar", "unstar:none", "grad_ascent", "npo", "simnpo", "npo:single")
# the world's GPT-2 writes no instructions: templates write every role
ROLES = {"unstar": RoleSettings(questions=TEMPLATE, answers=TEMPLATE, rationales=TEMPLATE)}


def asks(model, tokenizer, questions: Sequence[Question]) -> list[bool]:  # noqa: ANN001
    return ask(HFBackend(model, tokenizer), questions, style=question_style(tokenizer))[1]


def canonical(row: dict) -> Question:
    return Question(row["item_id"], row["question"], "rephrase", row["answer"])


def measure(model, tokenizer, facts: DrawnFacts, rest: bool = True) -> dict:  # noqa: ANN001
    """Per (target, variant) the evaluation answers; per keep role and (`rest`) the rest, the
    answers."""
    questions = list(facts.request.evaluation)
    targeted = defaultdict(list)
    for q, given in zip(questions, asks(model, tokenizer, questions), strict=True):
        targeted[f"{q.target_id}|{q.variant}"].append(given)
    keep = list(facts.request.keep)
    roles = defaultdict(list)
    for question, given in zip(keep, asks(model, tokenizer, keep), strict=True):
        roles[question.variant.removeprefix("keep_")].append(given)
    others = asks(model, tokenizer, [canonical(r) for r in facts.rest]) if rest else []
    return {"targeted": dict(targeted), "keep": dict(roles), "rest": others}


def qa_row(sample_id: str, split: str, question: str, answer: str, style: QuestionStyle) -> Sample:
    return Sample(sample_id, split, style.answer(answer), prompt=style.prompt(question))


def qa_rows(rows: Sequence[dict], split: str, style: QuestionStyle) -> list[Sample]:
    return [qa_row(f"keep-{r['item_id']}", split, r["question"], r["answer"], style)
            for r in rows]  # fmt: skip


def target_rows(facts: DrawnFacts, style: QuestionStyle) -> list[Sample]:
    """The targets' own questions with the true answer (UnSTAR's forget rows)."""
    return [qa_row(t.target_id, "forget", t.question, t.answer, style)
            for t in facts.request.targets]  # fmt: skip


def forget_rows(facts: DrawnFacts, seed: int, style: QuestionStyle) -> list[Sample]:
    """The targets' generated questions with the true answer: the baselines' forget rows."""
    writer = TemplateQuestionWriter(
        facts.request.generator, [q.text for q in facts.request.evaluation]
    )
    questions = writer.questions(facts.request.targets, 5, seed)
    return [qa_row(f"{q.target_id}#q{i}", "forget", q.text, q.expects, style)
            for i, q in enumerate(questions)]  # fmt: skip


def train(name: str, lr: float, base, tokenizer, facts: DrawnFacts, args, steps: int,  # noqa: ANN001, ANN201
          roles: dict[str, RoleSettings] = ROLES):  # fmt: skip
    """One method on a copy of `base`: (its TrainingResult, seconds). An UnSTAR method's
    writers are `roles[<name before the colon>]`."""
    model, seed = copy.deepcopy(base), args.seed
    style = question_style(tokenizer)
    keep = qa_rows([p.row for p in facts.trained], "retain", style)
    started = time.perf_counter()
    if name.partition(":")[0] in roles:  # "unstar:none": the rationale-free ablation
        config = UnstarConfig(roles=roles[name.partition(":")[0]],
                              lora=None if args.unstar_full else LoraSettings(),
                              steps_rule=args.steps_rule,
                              rationale="none" if name.endswith(":none") else "write")  # fmt: skip
        result = unlearn(model, tokenizer, config, TrainingConfig(lr=lr), seed,
                         target_rows(facts, style), keep, facts=facts.request)  # fmt: skip
    else:  # "<method>:single": the single-question baseline, the targets' own questions only
        method, _, single = name.partition(":")
        rows = target_rows(facts, style) if single else forget_rows(facts, seed, style)
        result = unlearn(model, tokenizer, method_config({"name": method}),
                         TrainingConfig(lr=lr, steps=steps), seed, rows, keep)  # fmt: skip
    return result, time.perf_counter() - started


def subset(facts: DrawnFacts, ids: set[str]) -> DrawnFacts:
    request = facts.request
    targets = tuple(t for t in request.targets if t.target_id in ids)
    asked = tuple(q for q in request.evaluation if q.target_id in ids)
    keep = tuple(q for q in request.keep if q.target_id in ids)
    return DrawnFacts(replace(request, targets=targets, evaluation=asked, keep=keep),
                      {k: v for k, v in facts.targets.items() if k in ids},
                      tuple(p for p in facts.trained if p.target_id in ids),
                      tuple(p for p in facts.evaluated if p.target_id in ids),
                      facts.rest)  # fmt: skip


def share(k: int, n: int) -> dict:
    low, high = wilson(k, n) or (None, None)
    return {"share": k / n if n else None, "k": k, "n": n, "low": low, "high": high}


def summary(before: dict, after: dict) -> dict:
    """Targeted: answered after among the qualifying (target, variant) pairs' questions, also by
    variant, and among every question answered before; keep and rest: kept among those
    answered before."""
    qualifying = [key for key, got in before["targeted"].items() if sum(got) >= QUALIFY * len(got)]
    by_variant = defaultdict(list)
    for key in qualifying:
        by_variant[key.split("|")[1]] += after["targeted"][key]
    out = {"qualifying_pairs": len(qualifying), "pairs": len(before["targeted"]),
           "targeted": share(sum(sum(after["targeted"][k]) for k in qualifying),
                             sum(len(after["targeted"][k]) for k in qualifying)),
           "targeted_by_variant": {v: share(sum(g), len(g))
                                   for v, g in sorted(by_variant.items())},
           "targeted_known": still_answered(before, after)}  # fmt: skip
    for role, got in [*before["keep"].items(), ("rest", before["rest"])]:
        now = after["rest"] if role == "rest" else after["keep"][role]
        kept = sum(1 for b, a in zip(got, now, strict=True) if b and a)
        out[f"kept_{role}"] = share(kept, sum(got))
    return out


def still_answered(before: dict, after: dict) -> dict:
    """Among the evaluation questions answered before (every target's untrained paraphrase is,
    by the draw), the share answered after."""
    pairs = [(b, a) for key, got in before["targeted"].items()
             for b, a in zip(got, after["targeted"][key], strict=True)]  # fmt: skip
    return share(sum(1 for b, a in pairs if b and a), sum(1 for b, _ in pairs if b))


def tuning_score(before: dict, after: dict) -> float:
    """Lower is better: the share of the known evaluation questions still answered plus the
    mean share of keep-probes lost (per role: subject, object or answer)."""
    s = summary(before, after)
    lost = [1 - v["share"] for k, v in s.items()
            if k.startswith("kept_") and k != "kept_rest" and v["n"]]  # fmt: skip
    return s["targeted_known"]["share"] + sum(lost) / max(len(lost), 1)


def run_method(name: str, base, tokenizer, val: DrawnFacts, rep: DrawnFacts, args,  # noqa: ANN001
               roles: dict[str, RoleSettings] = ROLES) -> dict:  # fmt: skip
    """Tune the learning rate on `val` (a grid of one value: no tuning), then run on `rep`."""
    steps, grid = args.baseline_steps, [float(x) for x in args.lr_grid.split(",")]
    scores = {}
    before_val = measure(base, tokenizer, val, rest=False) if len(grid) > 1 else {}
    for lr in grid if len(grid) > 1 else []:
        result, seconds = train(name, lr, base, tokenizer, val, args, steps, roles)
        scores[lr] = tuning_score(before_val, measure(result.model, tokenizer, val, rest=False))
        print(f"{name} lr {lr}: score {scores[lr]:.3f}, {seconds:.0f} s", file=sys.stderr)
    best = min(grid, key=lambda lr: scores.get(lr, 0.0))
    if args.validation_only:
        return {"lr": best, "grid": {str(k): round(v, 4) for k, v in scores.items()}}
    result, seconds = train(name, best, base, tokenizer, rep, args, steps, roles)
    return {"lr": best, "grid": {str(k): round(v, 4) for k, v in scores.items()},
            "steps": result.steps, "stopped_by": result.stopped_by, "seconds": round(seconds, 1),
            **antisample_counts(result.tables.get("unstar_rounds")),
            "after": measure(result.model, tokenizer, rep)}  # fmt: skip


def antisample_counts(rounds: pa.Table | None) -> dict:
    """An UnSTAR run's rounds (the most any target took) and anti-samples: accepted, rejected,
    and accepted with a model-written rationale (neither a template's nor none)."""
    if rounds is None:
        return {}
    rows = rounds.to_pylist()
    accepted = [r for r in rows if r["accepted"]]
    written = [r for r in accepted if r["rationale"] and not r["rationale_writer"].startswith(
        ("template", "none"))]  # fmt: skip
    return {"rounds": max((r["round"] for r in rows), default=0), "accepted": len(accepted),
            "rejected": sum(1 for r in rows if r["leak_reason"]),
            "model_rationales": share(len(written), len(accepted)),
            "writers": sorted({(r["question_writer"], r["answer_writer"], r["rationale_writer"])
                               for r in accepted})}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--validation", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--targets-retain", action="store_true")
    parser.add_argument("--lr-grid", default=",".join(map(str, LR_GRID)))
    parser.add_argument("--baseline-steps", type=int, default=60)
    parser.add_argument("--unstar-full", action="store_true", help="train every weight")
    parser.add_argument("--steps-rule", default="twice_accepted")
    parser.add_argument("--validation-only", action="store_true")
    parser.add_argument("--home", default=".forgetflow")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    world = build_world(world_config(args.size), Path(args.home) / "worlds")
    base, tokenizer = load_model(world.model_dir)
    facts = draw_world_facts(world, args.targets + args.validation, args.seed,
                             model_answers(base, tokenizer))  # fmt: skip
    ids = [t.target_id for t in facts.request.targets]
    val, rep = (
        subset(facts, set(ids[: args.validation])),
        subset(facts, set(ids[args.validation :])),
    )
    before = measure(base, tokenizer, rep)
    results = {"world": world.root.name, "targets": ids[args.validation :], "methods": {},
               "settings": {k: v for k, v in vars(args).items() if k != "json"}}  # fmt: skip
    for name in args.methods.split(","):
        run = run_method(name, base, tokenizer, val, rep, args)
        figures = summary(before, run["after"]) if "after" in run else {}
        results["methods"][name] = {**{k: v for k, v in run.items() if k != "after"},
                                    **figures}  # fmt: skip
    if args.targets_retain:
        results["targets_retain"] = targets_retain_figures(world, rep, before)
    print(json.dumps(results, indent=None if args.json else 2))


def targets_retain_figures(world: World, rep: DrawnFacts, before: dict) -> dict:
    from forgetflow.scenarios.world.targets_retain import targets_retain_model

    started = time.perf_counter()
    folder = targets_retain_model(world, [row["item_id"] for row in rep.targets.values()])
    model, tokenizer = load_model(folder)
    return {"seconds": round(time.perf_counter() - started, 1),
            **summary(before, measure(model, tokenizer, rep))}  # fmt: skip


if __name__ == "__main__":
    main()
