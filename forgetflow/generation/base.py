"""The generation protocol every text-generating stage goes through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from forgetflow.records import Completion

Prompt = str | Sequence[int]


class SamplingParams(BaseModel):
    """How to continue a prompt. temperature 0 means greedy (argmax, first index on ties)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False


class UnsupportedOperationError(NotImplementedError):
    """The backend cannot do this by construction (e.g. a template cannot score text)."""


@runtime_checkable
class GenerationBackend(Protocol):
    name: str

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        """One completion per prompt, in order."""
        ...

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of log p(continuation | context) for each (context, continuation) pair."""
        ...
