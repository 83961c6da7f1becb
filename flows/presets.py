"""Built-in pipeline presets (their YAML twins live in deployments/)."""

from __future__ import annotations

from flows.params import PipelineConfig, UnlearningParams, WorldSource
from forgetflow.data.world import world_config
from forgetflow.methods.grad_diff import GradDiffConfig
from forgetflow.training import TrainingConfig


def demo_config(home: str | None = None, size: str = "tiny") -> PipelineConfig:
    """The tiny world, GradDiff with falsified twins; tuned so that forget extraction collapses
    while retain extraction and perplexity hold (see README)."""
    return PipelineConfig(
        name=f"demo-{size}",
        seed=0,
        home=home,
        data=WorldSource(world=world_config(size, seed=0)),
        unlearning=UnlearningParams(
            method=GradDiffConfig(forget_weight=0.2, retain_weight=2.0, antisample_weight=1.0),
            training=TrainingConfig(steps=40, lr=1e-3, batch_size=8),
        ),
    )
