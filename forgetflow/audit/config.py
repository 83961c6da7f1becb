"""The audit stage's settings (`audit:` in a pipeline config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from forgetflow.generation.config import BackendConfig, ModelBackend


class AuditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix_tokens: int = Field(32, ge=1, description="prompt length for texts with no newline")
    generator: ModelBackend = Field(
        BackendConfig(name="hf"), description="who decodes the attack: hf or vllm"
    )
