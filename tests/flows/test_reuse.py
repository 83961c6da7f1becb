"""Cached re-runs: an unchanged re-run reuses every stage (its MLflow runs point at the runs that
computed them); a changed learning rate recomputes unlearning and what follows it only; new
content in the forget file at the same path recomputes from scoring on; a run killed during
unlearning resumes to the weights of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from flows.params import PipelineConfig
from flows.presets import demo_config
from flows.unlearning_pipeline import PipelineResult, unlearning_pipeline
from storage.tracking import read_ref, stage_child
from tasks.reuse import REUSED_FROM

STAGES = ("score_memorization", "generate_antisamples", "run_unlearning", "audit",
          "evaluate_utility", "write_report")  # fmt: skip
AFTER_UNLEARNING = ("run_unlearning", "audit", "evaluate_utility", "write_report")


def write_splits(world, folder: Path, marker: str = "") -> dict[str, str]:
    """Four of the world's records per split as JSONL; `marker` appended to the first forget
    text changes the forget file's content at the same path."""
    files = {}
    for split in ("forget", "retain", "holdout"):
        rows = pq.read_table(world.splits[split]).to_pylist()[:4]
        if split == "forget":
            rows[0]["text"] += marker
        lines = [json.dumps({"sample_id": r["sample_id"], "text": r["text"]}) for r in rows]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
        files[split] = str(folder / f"{split}.jsonl")
    return files


def stage_runs(result: PipelineResult) -> dict[str, tuple[str, str | None]]:
    """Each stage's child run: its id and the run it was reused from (None where it ran)."""
    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    return {r.info.run_name: (r.info.run_id, r.data.tags.get(REUSED_FROM)) for r in children}


def reused(result: PipelineResult) -> dict[str, str | None]:
    return {stage: source for stage, (_, source) in stage_runs(result).items()}


def test_reuse_follows_what_changed(
    prefect_harness, tiny_world, session_home, tmp_path, quick_utility
) -> None:  # fmt: skip
    config = demo_config(str(session_home)).model_dump()
    config["name"] = "reuse"
    config["data"] = {"kind": "files", "model": str(tiny_world.model_dir),
                      **write_splits(tiny_world, tmp_path)}  # fmt: skip
    config["antisamples"] = {"builders": ["falsified"]}
    config["audit"] |= {"mia_attacks": ["loss"], "carlini": None, "stresses": []}
    config["utility"] |= quick_utility
    config["unlearning"]["method"] = {"name": "grad_diff", "antisample_weight": 1.0}
    config["unlearning"]["training"] = {"steps": 2, "batch_size": 4, "lr": 1e-4}
    first = unlearning_pipeline(PipelineConfig.model_validate(config | {"reuse": False}))
    computed = stage_runs(first)
    assert set(computed) >= set(STAGES) and not any(source for _, source in computed.values())
    again = unlearning_pipeline(PipelineConfig.model_validate(config))
    assert {s: reused(again)[s] for s in STAGES} == {s: computed[s][0] for s in STAGES}
    assert again.headline == first.headline
    client = MlflowClient(first.tracking_uri)  # a reused run holds the refs of its original
    scored = [stage_runs(run)["score_memorization"][0] for run in (first, again)]
    assert len({read_ref(client, r, "ledger", tmp_path / r) for r in scored}) == 1
    config["unlearning"]["training"]["lr"] = 2e-4
    changed = reused(unlearning_pipeline(PipelineConfig.model_validate(config)))
    assert [s for s in STAGES if changed[s] is None] == list(AFTER_UNLEARNING)
    config["data"] |= write_splits(tiny_world, tmp_path, marker=" (edited)")  # same paths
    edited = reused(unlearning_pipeline(PipelineConfig.model_validate(config)))
    assert all(edited[stage] is None for stage in STAGES)


def weights_of(result: PipelineResult, tmp_path: Path) -> bytes:
    """The unlearned model's weights file, as the run_unlearning stage stored it."""
    client = MlflowClient(result.tracking_uri)
    run = stage_child(client, result.parent_run_id, "run_unlearning")
    model = read_ref(client, run.info.run_id, "model", tmp_path / run.info.run_id)
    return (model.path / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_a_run_killed_during_unlearning_ends_as_an_uninterrupted_one(
    prefect_harness, tiny_world, tmp_path, quick_utility
) -> None:  # fmt: skip
    """kill -9 once a checkpoint is written; the re-run resumes from it and ends with the same
    weights, bit for bit, as a run never interrupted (same torch threads)."""
    config = demo_config(str(tmp_path / "killed")).model_dump()
    config["data"] = {"kind": "files", "model": str(tiny_world.model_dir),
                      **write_splits(tiny_world, tmp_path)}  # fmt: skip
    config |= {"name": "killed", "antisamples": {"builders": []}}
    config["audit"] |= {"mia_attacks": ["loss"], "carlini": None, "stresses": []}
    config["utility"] |= quick_utility
    config["unlearning"]["method"] = {"name": "grad_diff", "antisample_weight": 0.0}
    config["unlearning"]["training"] = {"steps": 300, "batch_size": 4, "lr": 1e-5,
                                        "checkpoint_every": 1}  # fmt: skip
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(config))
    threads = str(torch.get_num_threads())
    env = os.environ | {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    cli = Path(sys.executable).parent / "forgetflow"
    process = subprocess.Popen([str(cli), "run", "--config", str(path)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 300
    while not any(checkpoints.glob("*/last/state.pt")) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # its temporary Prefect server dies with it
    assert process.wait() == -signal.SIGKILL  # killed, not finished
    resumed = unlearning_pipeline(PipelineConfig.model_validate(config))
    clean = unlearning_pipeline(
        PipelineConfig.model_validate(config | {"home": str(tmp_path / "clean")}))  # fmt: skip
    assert weights_of(resumed, tmp_path) == weights_of(clean, tmp_path)
