"""The anti-sample stage's settings (`antisamples:` in a pipeline config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forgetflow.generation.config import BackendConfig


class AntisampleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    builders: list[Literal["falsified"]] = Field(
        ["falsified"],
        description="the anti-sample builders to run (falsified: a twin of each forget sample "
        "with the same prompt and false details); [] turns the stage off",
    )
    generator: BackendConfig = Field(
        BackendConfig(name="template"), description="falsified twins: the template generator"
    )
    keep_first_line: bool = Field(True, description="keep the prompt line in each twin")

    @field_validator("generator")
    @classmethod
    def template_only(cls, generator: BackendConfig) -> BackendConfig:
        if generator.name != "template":
            raise ValueError(
                f"anti-samples come from the template generator for now, not {generator.name!r}"
            )
        return generator
