"""Run the unlearning loop data-parallel:
`torchrun --nproc_per_node=N -m forgetflow.unlearning.torchrun JOB.json`.
Every process loads the model, takes its share of each batch (DDP averages the gradients) and
its share of every scoring; process 0 saves the model.

JOB.json: {"model": DIR, "forget": FILE, "retain": FILE?, "holdout": FILE?, "method": {...},
"training": {...}, "seed": 0, "out": DIR, "checkpoint_dir": DIR?} with sample files as
`forgetflow score` reads them (JSONL, Parquet, CSV: sample_id + text, or question + answer).
On CPU the processes talk through gloo, on GPUs through NCCL (one device per process).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict

from forgetflow.data.loaders import load_request
from forgetflow.models.io import load_model
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.registry import method_config
from forgetflow.unlearning.run import save_trained


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    forget: Path
    retain: Path | None = None
    holdout: Path | None = None
    method: dict
    training: TrainingConfig = TrainingConfig()
    seed: int = 0
    out: Path
    checkpoint_dir: Path | None = None


def run(job: Job) -> None:
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        model, tokenizer = load_model(job.model)
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            model = model.to(f"cuda:{local}")
        files = {"forget": job.forget, "retain": job.retain, "holdout": job.holdout}
        loaded = load_request({name: path for name, path in files.items() if path is not None})
        splits = {name: list(loaded[name].samples) if name in loaded else [] for name in files}
        result = unlearn(model, tokenizer, method_config(job.method), job.training, job.seed,
                         splits["forget"], splits["retain"], splits["holdout"],
                         checkpoint_dir=job.checkpoint_dir)  # fmt: skip
        if dist.get_rank() == 0:
            save_trained(result, tokenizer, job.training, job.out)
            (job.out / "training_log.json").write_text(
                json.dumps([{"step": log.step, **log.values} for log in result.logs])
            )
        dist.barrier()
    finally:
        dist.destroy_process_group()


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(
            "usage: torchrun --nproc_per_node=N -m forgetflow.unlearning.torchrun JOB.json"
        )
    run(Job.model_validate_json(Path(sys.argv[1]).read_text()))


if __name__ == "__main__":
    main()
