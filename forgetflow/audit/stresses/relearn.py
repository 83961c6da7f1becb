"""The relearning stresses `relearn_10` and `relearn_50`: the forget set is split in two halves
by a seeded hash of its sample ids; the source model is fine-tuned by descent on half A for k
steps with the unlearning run's optimizer, batch size and lr (or `relearn.lr`), by the one
unlearning loop (forgetflow.unlearning: FinetuneConfig, DESCENT); the attacks then run on half B.
The same relearning of the retain model is the control: what "comes back" is the figure of
after.relearn minus that of retain_model.relearn, on half B (`comes_back`).

The output is a plain model directory plus `relearn.json` (the halves, the settings, the
source's sha256), written atomically; an identical one is reused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forgetflow.atomic import staged_dir
from forgetflow.audit.stresses.registry import STRESSES, StressContext, read_record, variant_label
from forgetflow.hashing import content_sha256, dir_sha256, stable_seed
from forgetflow.models.io import load_model, model_path, save_model
from forgetflow.records import Figure, ModelVariant, Sample
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.finetune import DESCENT, FinetuneConfig
from forgetflow.unlearning.inputs import LoopInputs
from forgetflow.unlearning.loop import UnlearningLoop

RECORD = "relearn.json"
STEPS = (10, 50)  # the registered relearn_<k>
SPLIT_RULE = (
    "sample ids ordered by sha256(seed, id) (forgetflow.hashing.stable_seed('relearn', seed, "
    "id)); the first ceil(n / 2) are half A (relearned on), the rest half B (attacked)"
)


class RelearnError(ValueError):
    """The relearning stress lacks what it needs (a forget set, training settings)."""


def split_halves(sample_ids: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """(half A, half B) of `sample_ids`, each sorted: ordered by a seeded hash of each id, the
    first ceil(n / 2) ids are half A. The same ids give the same halves in any order."""
    ids = list(sample_ids)
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise RelearnError(f"relearn: sample ids {repeated[:3]} repeat; give each sample one id")
    ranked = sorted(ids, key=lambda i: (stable_seed("relearn", seed, i), i))
    cut = (len(ranked) + 1) // 2
    return sorted(ranked[:cut]), sorted(ranked[cut:])


def split_samples(samples: Sequence[Sample], seed: int) -> tuple[list[Sample], list[Sample]]:
    """`samples` in the halves `split_halves` puts their ids in, each in the given order."""
    half_a = set(split_halves([s.sample_id for s in samples], seed)[0])
    first = [s for s in samples if s.sample_id in half_a]
    return first, [s for s in samples if s.sample_id not in half_a]


def relearn_training(context: StressContext, steps: int) -> TrainingConfig:
    """The relearning run's settings: the unlearning run's optimizer, lr (or `relearn_lr`),
    batch size, gradient accumulation, weight decay, clipping and precision; `steps` steps at a
    constant lr; every weight trained; no ledger driving, no checkpoints."""
    if context.training is None or not context.forget:
        raise RelearnError(
            "relearn: the stress needs the forget set and the unlearning run's training settings; "
            "pass StressContext(forget=..., training=...)"
        )
    given = context.training
    kept = ("optimizer", "batch_size", "grad_accum", "weight_decay", "max_grad_norm", "dtype")
    return TrainingConfig(
        steps=steps, lr=context.relearn_lr or given.lr, **{k: getattr(given, k) for k in kept}
    )


def settings(context: StressContext, steps: int, source_sha256: str) -> dict[str, Any]:
    """What identifies one relearning (and `relearn.json` records): the halves, the seed, the
    steps and training settings, the half-A texts and the source model."""
    training = relearn_training(context, steps)
    half_a, half_b = split_samples(context.forget, context.seed)
    texts = [[s.sample_id, s.prompt, s.text] for s in half_a]
    return {
        "steps": steps, "lr": training.lr, "optimizer": training.optimizer,
        "batch_size": training.batch_size, "seed": context.seed, "split_rule": SPLIT_RULE,
        "half_a": [s.sample_id for s in half_a], "half_b": [s.sample_id for s in half_b],
        "half_a_sha256": content_sha256(texts), "source_sha256": source_sha256,
        "training": training.model_dump(mode="json"),
    }  # fmt: skip


def relearned(source: ModelVariant, root: Path, context: StressContext, steps: int) -> ModelVariant:
    """The variant `<source>.relearn_<steps>`: the source's model fine-tuned by descent on half
    A of the forget set for `steps` steps, written to `<root>/<label>` with its `relearn.json`
    (atomically; an identical one is reused)."""
    label = variant_label(source, f"relearn_{steps}")
    variant = ModelVariant(label, root / label, source.label)
    source_dir = model_path(source.model_dir)
    wanted = settings(context, steps, dir_sha256(source_dir))
    wanted = json.loads(json.dumps(wanted))  # as read back: lists, not tuples
    held = read_record(variant.model_dir / RECORD)
    if {key: held.get(key) for key in wanted} == wanted:
        return variant
    model, tokenizer = load_model(source_dir)
    half_a, _ = split_samples(context.forget, context.seed)
    inputs = LoopInputs(FinetuneConfig(), relearn_training(context, steps), context.seed,
                        half_a, loss=DESCENT)  # fmt: skip
    UnlearningLoop(model, tokenizer, inputs).run()
    record = {"source": {"label": source.label, "model_dir": str(source.model_dir)}, **wanted}
    with staged_dir(variant.model_dir, replace=True) as staging:
        save_model(model, tokenizer, staging)
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return variant


@STRESSES.register("relearn_10", kind="relearn", steps=10)
def relearn_10(source: ModelVariant, root: Path, context: StressContext) -> ModelVariant:
    """Fine-tune on half A of the forget set for 10 steps."""
    return relearned(source, root, context, 10)


@STRESSES.register("relearn_50", kind="relearn", steps=50)
def relearn_50(source: ModelVariant, root: Path, context: StressContext) -> ModelVariant:
    """Fine-tune on half A of the forget set for 50 steps."""
    return relearned(source, root, context, 50)


def comes_back(after_relearn: Sequence[Figure], retain_relearn: Sequence[Figure]) -> list[Figure]:
    """What relearning brings back: per (metric, group) present in both, the figure of
    after.relearn minus that of retain_model.relearn (both on half B), as
    `<metric>_comes_back` of the after.relearn variant, with its direction and n."""
    control = {(f.metric, f.group): f for f in retain_relearn}
    return [
        Figure(f.stage, f"{f.metric}_comes_back", f.variant, f.group,
               f.value - control[f.metric, f.group].value, f.higher_is_better, f.n)
        for f in after_relearn if (f.metric, f.group) in control
    ]  # fmt: skip
