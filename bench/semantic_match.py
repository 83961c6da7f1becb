"""Bench: how semantic_match (MiniLM cosine, forgetflow/data/answers.py) separates a fact's true
answer from its perturbed answers, on the world's facts (issue 17's answer matcher).

    python bench/semantic_match.py [--people 60] [--items 300] [--home DIR] [--json]

Per item (the world's people's QA facts and object facts, seeded): the true pair is (answer, the
paraphrased answer sentence); the false pairs are (answer, each perturbed answer) and (answer, the
sentence with the perturbed answer in its place). Prints, per cosine threshold, the share of true
and of false pairs that match, the threshold SEMANTIC_MIN and the shares there. Needs the pulled
embedder: `forgetflow models pull minilm-l6-v2`.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from forgetflow.data.answers import SEMANTIC_MIN
from forgetflow.models.embedder import DEFAULT_EMBEDDER, pulled_embedder
from forgetflow.scenarios.world.facts import make_people, object_items, qa_items

THRESHOLDS = (0.5, 0.6, SEMANTIC_MIN, 0.75, 0.8, 0.85)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--home", default=None, help="forgetflow's folder (pulled models)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(1)
    embedder = pulled_embedder(args.home)
    if embedder is None:
        print(f"error: {DEFAULT_EMBEDDER} is not pulled; run `forgetflow models pull "
              f"{DEFAULT_EMBEDDER}`", file=sys.stderr)  # fmt: skip
        return 2
    people = make_people(args.people, seed=0)
    items = ([q for p in people for q in qa_items(p)] + object_items(people, seed=0))[: args.items]
    true, false = [], []
    for item in items:
        true.append(embedder.similarity(item.answer, item.paraphrased_answer))
        for wrong in item.perturbed_answers:
            false.append(embedder.similarity(item.answer, wrong))
            sentence = item.paraphrased_answer.replace(item.answer, wrong)
            false.append(embedder.similarity(item.answer, sentence))
    t, f = np.array(true), np.array(false)
    result = {
        "items": len(items), "true_pairs": len(t), "false_pairs": len(f),
        "semantic_min": SEMANTIC_MIN,
        "true_median": float(np.median(t)), "false_median": float(np.median(f)),
        "false_q99": float(np.quantile(f, 0.99)), "false_max": float(f.max()),
        "by_threshold": {f"{th:.2f}": {"true_share": float((t >= th).mean()),
                                       "false_share": float((f >= th).mean())}
                         for th in THRESHOLDS},
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{len(items)} items: {len(t)} true pairs, {len(f)} false pairs; median cosine "
              f"true {result['true_median']:.3f}, false {result['false_median']:.3f}")  # fmt: skip
        for th, shares in result["by_threshold"].items():
            print(f"cosine >= {th}: true {shares['true_share']:.3f}, "
                  f"false {shares['false_share']:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
