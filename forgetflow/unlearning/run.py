"""The unlearning stage: train a method on a model, save it, and score it into the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.round_zero import RoundZero
from forgetflow.memorization.ledger import append
from forgetflow.memorization.metrics import parse_metric
from forgetflow.memorization.score import score_to_ledger
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.models.io import load_model, save_model
from forgetflow.records import Sample
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.batch import ANTISAMPLES
from forgetflow.unlearning.state import StepLog, TrainingResult


@dataclass(frozen=True)
class UnlearningOutput:
    ledger: pa.Table
    log: pa.Table
    steps: int
    stopped_by: str
    best_step: int | None
    tables: dict[str, pa.Table] = field(default_factory=dict)  # a procedure's own (unstar_rounds)


def log_table(logs: Sequence[StepLog]) -> pa.Table:
    rows = [(log.step, name, value) for log in logs for name, value in log.values.items()]
    return pa.table(
        {
            "step": pa.array([r[0] for r in rows], pa.int64()),
            "name": pa.array([r[1] for r in rows], pa.string()),
            "value": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def save_trained(
    result: TrainingResult, tokenizer: PreTrainedTokenizerBase, training: TrainingConfig, out: Path
) -> PreTrainedModel:
    """Save the trained model as a plain HF directory; under LoRA, the merged weights or (with
    `lora.save: adapter`) the adapter alone, which load_model applies to its base. Returns the
    model saved (under LoRA, merged or still the adapter on its base)."""
    model = result.model
    assert model is not None
    if training.lora is not None and training.lora.save == "merged":
        model = model.merge_and_unload()  # type: ignore[operator]
    save_model(model, tokenizer, out)
    return model


def antisamples(twins: pa.Table) -> list[Sample]:
    """Every row of the anti-sample table (sample_id, source_id, text) as a sample tied to its
    forget sample: a forget sample may have any number of them."""
    return [Sample(row["sample_id"], "antisample", row["text"], source_id=row["source_id"])
            for row in twins.select(["sample_id", "source_id", "text"]).to_pylist()]  # fmt: skip


def unlearn_model(
    model_dir: Path,
    out_dir: Path,
    method: BaseModel,
    training: TrainingConfig,
    seed: int,
    splits: dict[str, Sequence[Sample]],
    twins: pa.Table | None,
    ledger: pa.Table,
    checkpoint_dir: Path | None = None,
    thresholds: Thresholds | None = None,
    facts: FactRequest | None = None,
    round_zero: RoundZero | None = None,
) -> UnlearningOutput:
    """Unlearn `splits["forget"]` keeping `splits["retain"]` (`splits["guard"]`: general text's
    guard half, for the utility guard), driven by `ledger` (the scores before training), with
    every anti-sample of `twins` (rows tied to forget samples by
    `source_id`) and, for a facts request, its targets (`facts`) and UnSTAR's round 0 if stage 2
    wrote it; save the model and rescore forget and holdout after."""
    model, tokenizer = load_model(model_dir)
    forget = list(splits["forget"])
    auxiliary = {ANTISAMPLES: antisamples(twins)} if twins is not None else {}
    result = unlearn(
        model, tokenizer, method, training, seed, forget,
        retain=splits.get("retain", ()), holdout=splits.get("holdout", ()),
        auxiliary=auxiliary, ledger=ledger, checkpoint_dir=checkpoint_dir, thresholds=thresholds,
        guard=splits.get("guard", ()), facts=facts, round_zero=round_zero,
    )  # fmt: skip
    trained = save_trained(result, tokenizer, training, out_dir)
    scored = forget + list(splits.get("holdout", ()))
    metrics = tuple(sorted(m for m in set(ledger["metric"].to_pylist())
                           if parse_metric(m).teacher_forced))  # fmt: skip
    after = score_to_ledger(trained, tokenizer, scored, step=result.steps, metrics=metrics)
    before = result.ledger if result.ledger is not None else ledger
    again = pc.and_(pc.equal(before["step"], result.steps),
                    pc.is_in(before["metric"], value_set=pa.array(metrics)))  # fmt: skip
    merged = append(before.filter(pc.invert(again)), after)  # the loop's last scoring, redone
    return UnlearningOutput(merged, log_table(result.logs), result.steps, result.stopped_by,
                            result.best_step, result.tables)  # fmt: skip
