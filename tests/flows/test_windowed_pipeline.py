"""Texts longer than `scoring.window` through the whole flow: split once, at ingest, into the
windows every stage works on, while the ledger drives the loop's selection and weights."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.tracking import MlflowClient

from flows.params import PipelineConfig
from flows.presets import demo_config
from flows.unlearning_pipeline import PipelineResult, unlearning_pipeline
from forgetflow.data.samples import samples_from_table
from storage.artifacts import ArtifactStore
from storage.tracking import read_ref

ROWS_PER_SPLIT = 4


def record_files(world, folder: Path) -> dict[str, str]:
    """A few of the world's records (76..102 tokens each) per split, as a user's JSONL files."""
    files = {}
    for split in ("forget", "retain", "holdout"):
        rows = pq.read_table(world.splits[split]).to_pylist()[:ROWS_PER_SPLIT]
        lines = [json.dumps({"sample_id": r["sample_id"], "text": r["text"]}) for r in rows]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
        files[split] = str(folder / f"{split}.jsonl")
    return files


def logged_table(result: PipelineResult, stage: str | None, role: str, folder: Path) -> pa.Table:
    """The table the pipeline's parent run (or its `stage` child run) logged as `role`."""
    client = MlflowClient(result.tracking_uri)
    run = client.get_run(result.parent_run_id)
    if stage is not None:
        (run,) = client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}' "
            f"and tags.mlflow.runName = '{stage}'",
        )
    ref = read_ref(client, run.info.run_id, role, folder)
    return ArtifactStore(Path(result.artifacts)).get_table(ref)


def test_the_ledger_drives_the_loop_on_the_windows_of_long_texts(
    prefect_harness, tiny_world, session_home, tmp_path, quick_utility
) -> None:
    config = demo_config(str(session_home)).model_dump()
    config["name"] = "windowed-select"
    config["data"] = {"kind": "files", "model": str(tiny_world.model_dir),
                      **record_files(tiny_world, tmp_path)}  # fmt: skip
    config["scoring"] |= {"window": 40, "metrics": ["ma", "loss"]}
    config["audit"] |= {"mia_attacks": ["loss"], "carlini": None, "stresses": []}  # not tested here
    config["utility"] |= quick_utility
    config["unlearning"]["method"] = {"name": "grad_diff", "antisample_weight": 0.0}
    config["unlearning"]["training"] = {
        "steps": 2,
        "batch_size": 4,
        "drive": {"score_every": 1, "select": True, "weights": "memorization"},
    }
    result = unlearning_pipeline(PipelineConfig.model_validate(config))
    forget = samples_from_table(logged_table(result, None, "input.forget", tmp_path))
    units = {s.sample_id for s in forget}
    assert all(s.is_window for s in forget) and any(s.prompt for s in forget)  # later windows
    ledger = logged_table(result, "run_unlearning", "ledger", tmp_path).to_pylist()
    scored: dict[int, set[str]] = {}
    for row in ledger:
        if row["split"] == "forget":
            scored.setdefault(row["step"], set()).add(row["sample_id"])
    assert sorted(scored) == [0, 1, 2]  # before, after step 1, after training (rescored)
    assert all(ids == units for ids in scored.values())
