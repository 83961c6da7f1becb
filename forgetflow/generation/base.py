"""The generation protocol every text-generating stage goes through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forgetflow.records import Completion

Prompt = str | Sequence[int]


class SamplingParams(BaseModel):
    """How to continue a prompt. temperature 0 means greedy (argmax, first index on ties).

    `n` completions per prompt come back prompt-major: prompt i's j-th at index i*n + j. EOS ends a
    completion once it has `min_tokens` tokens, unless `ignore_eos`. With `logprobs`, each
    completion carries the log-probability of each of its tokens under the model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(64, ge=1)
    min_tokens: int = Field(0, ge=0)
    temperature: float = Field(0.0, ge=0.0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1)
    seed: int = 0
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    logprobs: bool = False

    @model_validator(mode="after")
    def _lengths(self) -> SamplingParams:
        if self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens={self.min_tokens} exceeds max_tokens={self.max_tokens}")
        if self.n > 1 and self.temperature == 0.0:
            raise ValueError(f"n={self.n} greedy completions would all be equal; sample instead")
        if any(not s for s in self.stop):
            raise ValueError("a stop string is empty")
        return self


def replace_params(params: SamplingParams, **changes: object) -> SamplingParams:
    """`params` with `changes`, validated again."""
    return SamplingParams(**(params.model_dump() | changes))


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
