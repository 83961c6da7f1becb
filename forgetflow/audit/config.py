"""The audit stage's settings (`audit:` in a pipeline config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from forgetflow.generation.config import BackendConfig, ModelBackend


class AuditConfig(BaseModel):
    """Extraction attacks on the model before and after unlearning."""

    model_config = ConfigDict(extra="forbid")

    prefix_tokens: int = Field(
        32, ge=1, description="tokens of a sample's start used as its extraction prompt when it "
        "has no prompt of its own (a text without a newline; others: the first line or the "
        "question)",
    )  # fmt: skip
    generator: ModelBackend = Field(
        BackendConfig(name="hf"), description="the backend that decodes the attack's "
        "completions: hf or vllm",
    )  # fmt: skip
