"""The audit stage's settings (`audit:` in a pipeline config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forgetflow.audit.membership import check_attacks
from forgetflow.generation.config import BackendConfig, ModelBackend


class AuditConfig(BaseModel):
    """Extraction and membership-inference attacks on every model variant (before, after and
    the retain model)."""

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
    mia_attacks: list[str] | None = Field(
        None, description="membership-inference attacks (loss, zlib, min_k_20, min_kpp_20, "
        "neighbour, reference) on forget vs holdout and retain vs holdout; null: every one "
        "(reference only with a retain model, never on the retain model itself); []: none",
    )  # fmt: skip
    mia_fpr: float = Field(
        0.01, gt=0.0, lt=1.0, description="the false-positive rate the TPR is reported at (only "
        "where the holdout has at least 1/FPR samples)",
    )  # fmt: skip

    @field_validator("mia_attacks")
    @classmethod
    def known_attacks(cls, names: list[str] | None) -> list[str] | None:
        check_attacks(names or [])
        return names
