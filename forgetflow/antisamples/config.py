"""The anti-sample stage's settings (`antisamples:` in a pipeline config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forgetflow.generation.config import BackendConfig


class AntisampleConfig(BaseModel):
    """Anti-samples: a falsified twin of each forget sample, for a method's anti-sample term."""

    model_config = ConfigDict(extra="forbid")

    builders: list[Literal["falsified", "unstar"]] = Field(
        ["falsified"],
        description="the anti-sample builders to run (falsified: a twin of each forget sample "
        "with the same prompt and false details; unstar: UnSTAR's round 0 for a facts request, "
        "its questions, falsified answers, the before model's probe and first anti-samples, "
        "written with the unstar method's settings before any training); [] turns the stage "
        "off",
    )
    generator: BackendConfig = Field(
        BackendConfig(name="template"), description="the backend that writes the twins: only "
        "template (rule-based falsification, no model) for now",
    )  # fmt: skip
    keep_first_line: bool = Field(
        True, description="true: each twin keeps its sample's first line (the prompt) and "
        "falsifies the rest; false: the first line is falsified too",
    )  # fmt: skip

    @field_validator("generator")
    @classmethod
    def template_only(cls, generator: BackendConfig) -> BackendConfig:
        if generator.name != "template":
            raise ValueError(
                f"anti-samples come from the template generator for now, not {generator.name!r}"
            )
        return generator
