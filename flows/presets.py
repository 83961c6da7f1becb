"""Built-in pipeline presets (their YAML twins live in deployments/)."""

from __future__ import annotations

from typing import Literal

from flows.params import AuditParams, PipelineConfig, UnlearningParams, WorldSource
from forgetflow.generation.registry import BackendConfig
from forgetflow.scenarios.world.build import world_config
from forgetflow.unlearning.config import DriveConfig, TrainingConfig
from forgetflow.unlearning.methods.grad_diff import GradDiffConfig


def demo_config(
    home: str | None = None, size: str = "tiny", backend: Literal["hf", "vllm"] = "hf"
) -> PipelineConfig:
    """The tiny world, GradDiff with falsified twins; tuned so that forget extraction collapses
    while retain extraction and perplexity hold (see README). `backend` decodes the audit."""
    return PipelineConfig(
        name=f"demo-{size}",
        seed=0,
        home=home,
        data=WorldSource(world=world_config(size, seed=0)),
        unlearning=UnlearningParams(
            method=GradDiffConfig(forget_weight=0.2, retain_weight=2.0, antisample_weight=1.0),
            training=TrainingConfig(
                steps=40, lr=1e-3, batch_size=8, drive=DriveConfig(score_every=10)
            ),  # fmt: skip
        ),
        audit=AuditParams(generator=BackendConfig(name=backend)),
    )
