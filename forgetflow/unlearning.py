"""The unlearning stage: train a method on a model, save it, and score it into the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel

from forgetflow.memorization.ledger import append
from forgetflow.memorization.stage import score_to_ledger
from forgetflow.models import load_model, save_model
from forgetflow.records import Sample
from forgetflow.training import StepLog, TrainingConfig, unlearn


@dataclass(frozen=True)
class UnlearningOutput:
    ledger: pa.Table
    log: pa.Table
    steps: int


def log_table(logs: Sequence[StepLog]) -> pa.Table:
    rows = [(log.step, name, value) for log in logs for name, value in log.values.items()]
    return pa.table(
        {
            "step": pa.array([r[0] for r in rows], pa.int64()),
            "name": pa.array([r[1] for r in rows], pa.string()),
            "value": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def unlearn_model(
    model_dir: Path,
    out_dir: Path,
    method: BaseModel,
    training: TrainingConfig,
    seed: int,
    splits: dict[str, Sequence[Sample]],
    twins: pa.Table | None,
    ledger: pa.Table,
) -> UnlearningOutput:
    """Unlearn `splits["forget"]` keeping `splits["retain"]`; rescore forget and holdout after."""
    model, tokenizer = load_model(model_dir)
    by_source = {}
    if twins is not None:
        by_source = dict(
            zip(twins["source_id"].to_pylist(), twins["text"].to_pylist(), strict=True)
        )
    forget = splits["forget"]
    logs = unlearn(
        model,
        tokenizer,
        method,
        training,
        seed,
        forget=[s.text for s in forget],
        retain=[s.text for s in splits.get("retain", ())],
        twins=[by_source.get(s.sample_id) for s in forget],
    )
    save_model(model, tokenizer, out_dir)
    scored = list(forget) + list(splits.get("holdout", ()))
    after = score_to_ledger(model, tokenizer, scored, step=training.steps)
    return UnlearningOutput(append(ledger, after), log_table(logs), training.steps)
