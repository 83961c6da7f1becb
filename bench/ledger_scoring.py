"""Part 3 of bench/training.py: what scoring the ledger after every epoch adds to a run's time.

The `small` world (built under the worlds folder first when missing, as bench/memorization.py
does: that build is not timed but takes long), its own model and tokenizer, loaded fresh for each
run: grad_ascent for 10 epochs of its forget profiles (forget.parquet; all of them unless
`--forget N` keeps the first N, `forget_capped`), batch 8, lr 1e-3, seed 0, the holdout profiles
as holdout. The step-0 ledger (forget and holdout, float32) is scored once before any timing and
handed to every run, as the pipeline's scoring stage hands it to the unlearning stage; a run
that scores then adds MA of the forget set after every epoch (`scorings`, counted in its ledger
past step 0). Runs: `plain` (drive=DriveConfig(), no scoring), `scored` (score_every_epochs=1,
metrics ["ma"], drive dtype bfloat16: scoring passes under bfloat16 autocast) and
`scored_float32` (the same in float32). An untimed 2-step run warms up first; then plain and
scored run twice each in ABBA order and scored_float32 once (`seconds` lists every run's wall
time of `unlearn`: one run of ~2 minutes varies by +-5% on this machine, step times by +-15%).
scoring_overhead = min(scored) / min(plain) (scoring_overhead_float32 likewise);
`ma_max_abs_diff` and `ma_mean_abs_diff` compare the MA of every forget sample at every scoring
between the bfloat16 and float32 runs (the same weights: training is deterministic).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from forgetflow.memorization.score import score_to_ledger
from forgetflow.models.io import load_model
from forgetflow.records import Sample
from forgetflow.scenarios.world.build import build_world, world_config
from forgetflow.unlearning.config import DriveConfig, TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.registry import method_config
from forgetflow.unlearning.state import TrainingResult

BATCH = 8
# plain and scored twice, in ABBA order (a drift in the machine's speed hits both alike); the
# float32 figure once
ORDER = ("plain", "scored", "scored", "plain", "scored_float32")


def log(message: str) -> None:
    print(f"[bench/training] {message}", file=sys.stderr, flush=True)


def split_samples(path: Path, split: str, cap: int | None = None) -> list[Sample]:
    rows = pq.read_table(path).to_pylist()[:cap]
    return [Sample(r["sample_id"], split, r["text"], r["repetitions"]) for r in rows]


def scored_ma(ledger: pa.Table) -> dict[tuple[str, int], float]:
    """MA of each forget sample at each scoring after step 0."""
    later = pc.and_(pc.equal(ledger["split"], "forget"), pc.greater(ledger["step"], 0))
    rows = ledger.filter(later)
    keys = zip(rows["sample_id"].to_pylist(), rows["step"].to_pylist(), strict=True)
    return dict(zip(keys, rows["value"].to_pylist(), strict=True))


def scoring(worlds: Path, world_name: str, epochs: int, forget_cap: int | None) -> dict:
    log(f"scoring: the {world_name} world (built first when missing)")
    world = build_world(world_config(world_name), worlds)
    total = pq.read_metadata(world.splits["forget"]).num_rows
    forget = split_samples(world.splits["forget"], "forget", forget_cap)
    holdout = split_samples(world.splits["holdout"], "holdout")
    method = method_config({"name": "grad_ascent"})
    model, tokenizer = load_model(world.model_dir)
    step0 = score_to_ledger(model, tokenizer, forget + holdout, 0, BATCH, ("ma",))

    def run(drive: DriveConfig, epochs: float | None, steps: int) -> tuple[float, TrainingResult]:
        model, tokenizer = load_model(world.model_dir)
        train = TrainingConfig(epochs=epochs, steps=steps, batch_size=BATCH, drive=drive)
        start = time.perf_counter()
        result = unlearn(model, tokenizer, method, train, seed=0, forget=forget, holdout=holdout,
                         ledger=step0)  # fmt: skip
        return time.perf_counter() - start, result

    run(DriveConfig(), None, 2)  # warm-up, untimed
    drives = {
        "plain": DriveConfig(),
        "scored": DriveConfig(score_every_epochs=1, metrics=["ma"], dtype="bfloat16"),
        "scored_float32": DriveConfig(score_every_epochs=1, metrics=["ma"]),
    }
    seconds: dict[str, list[float]] = {name: [] for name in drives}
    ledgers, steps = {}, {}
    for name in ORDER:
        log(f"scoring: {epochs} epochs of {len(forget)} forget rows, {name}")
        wall, result = run(drives[name], epochs, 10**6)
        seconds[name].append(wall)
        ledgers[name], steps[name] = result.ledger, result.steps
    fast, exact = scored_ma(ledgers["scored"]), scored_ma(ledgers["scored_float32"])
    plain, scored = min(seconds["plain"]), min(seconds["scored"])
    return {
        "world": world_name,
        "world_params": world.manifest["parameters"],
        "forget_rows": len(forget),
        "forget_rows_in_world": total,
        "forget_capped": len(forget) < total,
        "holdout_rows": len(holdout),
        "epochs": epochs,
        "batch_size": BATCH,
        "steps": steps,
        "scorings": len(set(ledgers["scored"]["step"].to_pylist()) - {0}),
        "ledger_rows": ledgers["scored"].num_rows,
        "seconds": {name: [round(s, 2) for s in runs] for name, runs in seconds.items()},
        "ma_max_abs_diff": round(max(abs(fast[i] - exact[i]) for i in exact), 6),
        "ma_mean_abs_diff": round(sum(abs(fast[i] - exact[i]) for i in exact) / len(exact), 6),
        "scoring_overhead": round(scored / plain, 4),
        "scoring_overhead_float32": round(min(seconds["scored_float32"]) / plain, 4),
    }
