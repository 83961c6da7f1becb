"""The scoring stage's settings (`scoring:` in a pipeline config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forgetflow.generation.config import BackendConfig, ModelBackend
from forgetflow.memorization.metrics import parse_metrics


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(16, ge=1)
    metrics: list[str] = Field(
        ["ma", "loss", "zlib", "min_k_20", "min_kpp_20"],
        description="ma, loss, zlib, min_k_P, min_kpp_P, el_N, extract_kK",
    )
    outlier_metric: str = Field(
        "ma", description="one of the metrics: the one outliers, c(D_f) and the report judge by"
    )
    window: int = Field(200, ge=2, description="longer texts are scored in windows")
    generator: ModelBackend = Field(
        BackendConfig(name="hf"), description="who decodes extract_kK: hf or vllm"
    )

    @field_validator("metrics")
    @classmethod
    def known_metrics(cls, names: list[str]) -> list[str]:
        parse_metrics(names)
        return names

    @model_validator(mode="after")
    def outlier_metric_is_scored(self) -> ScoringConfig:
        if self.outlier_metric not in self.metrics:
            raise ValueError(f"outlier_metric {self.outlier_metric!r} is not in metrics")
        return self
