"""The scoring stage's settings (`scoring:` in a pipeline config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forgetflow.generation.config import BackendConfig, ModelBackend
from forgetflow.memorization.metrics import parse_metrics


class ScoringConfig(BaseModel):
    """The memorization ledger before unlearning: per-sample metrics of the forget set and the
    holdout."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(
        16, ge=1, description="rows per teacher-forced scoring forward pass (a speed setting; "
        "extract_kK decodes in scoring.generator's batches)",
    )  # fmt: skip
    metrics: list[str] = Field(
        ["ma", "loss", "zlib", "min_k_20", "min_kpp_20"],
        description="the metrics to score: ma, loss, zlib, min_k_P and min_kpp_P (P: percent "
        "of tokens), el_N (N-grams), extract_kK (K prompt tokens); default: MA and the MIA scores",
    )
    outlier_metric: str = Field(
        "ma", description="the metric outliers, c(D_f) and the report judge by; one of metrics"
    )
    window: int = Field(
        200, ge=2, description="applied at ingest: a longer text row (in the model's tokens) "
        "becomes windows `<id>#<k>` of this many tokens, a short tail joining the last; every "
        "stage works on these units, a later window scored after up to this many tokens before it",
    )  # fmt: skip
    generator: ModelBackend = Field(
        BackendConfig(name="hf"), description="the backend that decodes extract_kK metrics (hf "
        "or vllm; used only when one is asked for)",
    )  # fmt: skip

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
