"""The loop under `torchrun --nproc_per_node=2` (gloo, DDP) against one process."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import torch

from forgetflow.models.io import load_model
from forgetflow.records import Sample
from forgetflow.unlearning.config import DriveConfig, TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.grad_diff import GradDiffConfig


def write_samples(path, samples: list[Sample]) -> None:
    path.write_text("".join(json.dumps({"sample_id": s.sample_id, "text": s.text}) + "\n"
                            for s in samples))  # fmt: skip


def profiles(world, split: str, n: int) -> list[Sample]:
    rows = [r for r in world.table("items").to_pylist()
            if r["split"] == split and r["family"] == "profile"]  # fmt: skip
    return [Sample(r["sample_id"], split, r["text"]) for r in rows][:n]


def test_two_processes_match_one_with_the_same_effective_batch(
    tiny_world, tiny_model, tmp_path
) -> None:
    splits = {name: profiles(tiny_world, name, 8) for name in ("forget", "retain", "holdout")}
    for name, rows in splits.items():
        write_samples(tmp_path / f"{name}.jsonl", rows)
    training = TrainingConfig(steps=3, batch_size=4, lr=1e-5,
                              drive=DriveConfig(score_every=2, weights="memorization"))  # fmt: skip
    method = GradDiffConfig()
    job = {"model": str(tiny_world.model_dir), "method": method.model_dump(),
           "training": training.model_dump(), "seed": 0, "out": str(tmp_path / "out"),
           **{name: str(tmp_path / f"{name}.jsonl") for name in splits}}  # fmt: skip
    (tmp_path / "job.json").write_text(json.dumps(job))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [*torchrun, "-m", "forgetflow.unlearning.torchrun", str(tmp_path / "job.json")]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)  # noqa: S603
    assert done.returncode == 0, done.stderr[-3000:]

    model, tokenizer = copy.deepcopy(tiny_model[0]), tiny_model[1]
    single = unlearn(model, tokenizer, method, training, 0, splits["forget"], splits["retain"],
                     splits["holdout"])  # fmt: skip
    parallel, _ = load_model(tmp_path / "out")
    got, want = parallel.state_dict(), model.state_dict()
    assert max(float((got[k] - want[k]).abs().max()) for k in want) <= 1e-5
    log = json.loads((tmp_path / "out" / "training_log.json").read_text())
    assert [row["step"] for row in log] == [1, 2, 3]
    for row, expected in zip(log, single.logs, strict=True):  # gathered from both processes
        assert row["forget_nll"] == pytest.approx(expected.values["forget_nll"], abs=1e-5)
    assert log[1]["forget_ma_mean"] == pytest.approx(single.logs[1].values["forget_ma_mean"])
    assert torch.equal(torch.tensor([row["rows"] for row in log]), torch.tensor([4.0] * 3))
