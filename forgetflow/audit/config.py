"""The audit stage's settings (`audit:` in a pipeline config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forgetflow.audit.carlini import CarliniSettings
from forgetflow.audit.membership import METRIC_ATTACKS, check_attacks
from forgetflow.audit.stresses.registry import STRESSES
from forgetflow.generation.config import BackendConfig, ModelBackend

# the teacher-forced attacks (one pass over the model) and the reference attack, so that the
# stressed variants are judged by the same designated attack as the variant they come from
STRESSED_ATTACKS = [*METRIC_ATTACKS, "reference"]
AUDIT_BATCH = 256  # hf rows per generation batch: n = 16 samples of 16 prompts


class AuditConfig(BaseModel):
    """Extraction and membership-inference attacks on every model variant (before, after, the
    retain model and the variants the stresses make)."""

    model_config = ConfigDict(extra="forbid")

    prefix_tokens: int = Field(
        32, ge=1, description="tokens of a sample's start used as its extraction prompt when it "
        "has no prompt of its own (a text without a newline; others: the first line or the "
        "question)",
    )  # fmt: skip
    generator: ModelBackend = Field(
        BackendConfig(name="hf", batch_size=AUDIT_BATCH), description="the backend that "
        "decodes the attack's completions: hf or vllm (hf: in batches of 256 rows, each "
        "sampled completion a row)",
    )  # fmt: skip
    carlini: CarliniSettings | None = Field(
        CarliniSettings(), description="prefix extraction after Carlini et al. 2022 on the "
        "forget set and the holdout, greedy and sampled (the stressed variants: greedy only), "
        "and the field leaks of records from their name line; null: off",
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
    stresses: list[str] = Field(
        ["relearn_10", "relearn_50", "int8", "int4"], description="stresses applied to the "
        "unlearned model, each making a variant audited like the others (relearn_<k>: k "
        "fine-tuning steps on half A of the forget set, attacked on half B, the retain model "
        "relearned the same way as the control; int8, int4: its transformer blocks' weights "
        "rounded); []: none",
    )  # fmt: skip
    stressed_attacks: list[str] = Field(
        STRESSED_ATTACKS, description="membership attacks on the stressed variants (forget vs "
        "holdout only; reference only with a retain model or a reference, never on a variant "
        "of the retain model)",
    )  # fmt: skip
    relearn_lr: float | None = Field(
        None, gt=0.0, description="the relearning stresses' learning rate; null: the unlearning "
        "run's",
    )  # fmt: skip

    @field_validator("mia_attacks", "stressed_attacks")
    @classmethod
    def known_attacks(cls, names: list[str] | None) -> list[str] | None:
        check_attacks(names or [])
        return names

    @field_validator("stresses")
    @classmethod
    def known_stresses(cls, names: list[str]) -> list[str]:
        for name in names:
            STRESSES.get(name)  # an unknown name: one line with the registered ones
        if len(set(names)) < len(names):
            raise ValueError(f"stresses {names} repeat one: give each once")
        return names
