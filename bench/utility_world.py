"""The utility acceptance figures of a world (issue: utility on data no method trains on), from
two `forgetflow evaluate` outputs on the world's own sets (`--scenario WORLD_DIR`):

    W=$(forgetflow world build --size small | sed -n 's/^world: *//p')
    forgetflow world retain-twin --size small --init-seed 1
    forgetflow evaluate --model $W/model --retain-model $W/retain_model --scenario $W --out target
    forgetflow evaluate --model $W/retain_model_init1 --retain-model $W/retain_model \\
        --scenario $W --out twin
    python bench/utility_world.py target twin

It prints, as a Markdown table: model utility of the target, the retain model and the twin
(|MU_t - MU_r| <= 0.1 MU_r, with a 95% paired bootstrap interval of MU_t / MU_r - 1 over the
qualifying items), forget quality of the target and of the twin against the retain
model on the forget facts seen >= 8 times and on all of them (< 0.05 for the target, >= 0.05
for the twin), and forget ROUGE-L of each on the facts seen >= 8 times (the target's at least
0.5 above the retain model's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy.stats import bootstrap

from forgetflow.utility.qa import QAScore
from forgetflow.utility.summary import model_utility

STRONG = 8
FORGET = "forget_facts"


def qa_scores(folder: Path, variant: str, sets: list[str]) -> list[list[QAScore]]:
    """Each qualifying set's per-item scores of one variant, as utility stored them (items in
    id order)."""
    values: dict[str, dict[str, dict[str, float]]] = {name: {} for name in sets}
    for r in pq.read_table(folder / "utility_samples.parquet").to_pylist():
        if r["variant"] == variant and r["set"] in values:
            values[r["set"]].setdefault(r["item_id"], {})[r["metric"]] = r["value"]
    return [[QAScore(item_id, v["probability"], v["rouge_l"], bool(v["answered"]), "",
                     v.get("truth_ratio")) for item_id, v in sorted(values[name].items())]
            for name in sets]  # fmt: skip


def gap_interval(folder: Path, sets: list[str]) -> tuple[float, float]:
    """A 95% interval of the target's model utility relative to the retain model's,
    MU_t / MU_r - 1 (`forgetflow.utility.summary.model_utility`): a paired bootstrap, each set's
    items resampled within the set, the same draw for both models."""
    target, retain = qa_scores(folder, "model", sets), qa_scores(folder, "retain_model", sets)

    def gap(*draws: np.ndarray) -> float:  # one draw of item indices per set
        def mu(scores: list[list[QAScore]]) -> float:
            drawn = zip(scores, draws, strict=True)
            return model_utility([[one[i] for i in draw] for one, draw in drawn])

        return mu(target) / mu(retain) - 1

    indices = tuple(np.arange(len(one)) for one in target)
    result = bootstrap(indices, gap, vectorized=False, n_resamples=2000, method="percentile",
                       rng=0)  # fmt: skip
    return result.confidence_interval.low, result.confidence_interval.high


def strong_rouge(folder: Path, variant: str) -> tuple[float, int]:
    rows = [r for r in pq.read_table(folder / "utility_samples.parquet").to_pylist()
            if r["variant"] == variant and r["set"] == FORGET and r["metric"] == "rouge_l"
            and r["repetitions"] >= STRONG]  # fmt: skip
    return sum(r["value"] for r in rows) / len(rows), len(rows)


def main(target: Path, twin: Path) -> None:
    first = json.loads((target / "utility_summary.json").read_text())["variants"]
    second = json.loads((twin / "utility_summary.json").read_text())["variants"]
    mu = {"target": first["model"]["model_utility"],
          "retain": first["retain_model"]["model_utility"],
          "twin": second["model"]["model_utility"]}  # fmt: skip
    rouge = {"target": strong_rouge(target, "model"),
             "retain": strong_rouge(target, "retain_model"),
             "twin": strong_rouge(twin, "model")}  # fmt: skip
    strong_n = first["model"]["forget_quality_strong_n"]
    gap = abs(mu["target"] - mu["retain"]) / mu["retain"]
    low, high = gap_interval(target, first["model"]["model_utility_sets"])
    lines = [
        "| figure | target | retain model | twin (init seed 1) | goal |",
        "|---|---|---|---|---|",
        f"| model utility ({', '.join(first['model']['model_utility_sets'])}) | "
        f"{mu['target']:.4f} | {mu['retain']:.4f} | {mu['twin']:.4f} | "
        f"target within 10% of the retain model's: {gap:.1%} (MU_t / MU_r - 1, 95% "
        f"paired bootstrap over items: {low:+.1%} to {high:+.1%}) |",
        f"| forget quality, facts seen >= {STRONG}x (n {strong_n}) | "
        f"{first['model']['forget_quality_strong']:.4f} | - | "
        f"{second['model']['forget_quality_strong']:.4f} | target < 0.05, twin >= 0.05 |",
        f"| forget quality, all forget facts (n {first['model']['forget_quality_n']}) | "
        f"{first['model']['forget_quality']:.4f} | - | {second['model']['forget_quality']:.4f} | |",
        f"| forget ROUGE-L, facts seen >= {STRONG}x (n {rouge['target'][1]}) | "
        f"{rouge['target'][0]:.3f} | {rouge['retain'][0]:.3f} | {rouge['twin'][0]:.3f} | "
        f"target - retain >= 0.5: {rouge['target'][0] - rouge['retain'][0]:.3f} |",
        f"| general perplexity (eval half) | {first['model']['general_ppl']:.1f} | "
        f"{first['retain_model']['general_ppl']:.1f} | {second['model']['general_ppl']:.1f} | |",
        f"| collapsed | {first['model']['collapsed']} | {first['retain_model']['collapsed']} | "
        f"{second['model']['collapsed']} | |",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/utility_world.py TARGET_OUT TWIN_OUT")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
