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


SHORTER = "use a shorter prompt, fewer new tokens or a model with a longer context"


class PositionLimitError(ValueError):
    """A prompt plus the new tokens asked of it runs past the model's position limit (the
    longest sequence it takes); `longest`, `max_tokens` and `limit` say by how much, `advice`
    what to do."""

    def __init__(self, longest: int, max_tokens: int, limit: int, advice: str = SHORTER) -> None:
        self.longest, self.max_tokens, self.limit = longest, max_tokens, limit
        super().__init__(
            f"a prompt of {longest} tokens plus max_tokens={max_tokens} new tokens needs "
            f"{longest + max_tokens} positions, but the model takes {limit}: {advice}"
        )


def check_positions(limit: int | None, prompts: Sequence[Sequence[int]], max_tokens: int) -> None:
    """PositionLimitError where the longest prompt plus `max_tokens` exceeds `limit` (None: no
    known limit)."""
    longest = max((len(p) for p in prompts), default=0)
    if limit is not None and longest + max_tokens > limit:
        raise PositionLimitError(longest, max_tokens, limit)


@runtime_checkable
class GenerationBackend(Protocol):
    """A backend may also state `max_positions`, the prompt plus completion tokens its model
    takes (None or absent: no known limit); `generate_each` keeps requests within it, and the HF
    backend refuses a request past it (PositionLimitError, check_positions)."""

    name: str

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        """One completion per prompt, in order."""
        ...

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of log p(continuation | context) for each (context, continuation) pair."""
        ...


def generate_each(
    backend: GenerationBackend,
    prompts: Sequence[Sequence[int]],
    lengths: Sequence[int],
    params: SamplingParams,
) -> list[Completion]:
    """Prompt i continued for at least `lengths[i]` tokens (`params.max_tokens` is replaced),
    prompt-major with `params.n` per prompt as `generate` returns them.

    One request where the backend's position limit allows it; else prompts go longest first into
    as few requests as keep every prompt plus its request's tokens within the limit. A prompt
    that leaves fewer than its length is continued to the limit and no further.
    """
    if len(prompts) != len(lengths):
        raise ValueError(f"{len(prompts)} prompts but {len(lengths)} lengths")
    limit = getattr(backend, "max_positions", None)
    unlimited = max(lengths, default=1)  # room enough for every length: one request
    rooms = [limit - len(p) if limit is not None else unlimited for p in prompts]
    if any(room < 1 for room in rooms):
        longest = max(len(p) for p in prompts)
        raise ValueError(f"a prompt of {longest} tokens fills the model's {limit} positions")
    wanted = [max(min(length, room), 1) for length, room in zip(lengths, rooms, strict=True)]
    groups: list[list[int]] = []
    for index in sorted(range(len(prompts)), key=lambda i: rooms[i]):
        if groups and wanted[index] <= rooms[groups[-1][0]]:
            groups[-1].append(index)
        else:
            groups.append([index])
    out: list[Completion | None] = [None] * (len(prompts) * params.n)
    for group in groups:
        asked = replace_params(params, max_tokens=max(wanted[i] for i in group))
        done = backend.generate([prompts[i] for i in group], asked)
        n = params.n
        for slot, index in enumerate(group):
            out[index * n : (index + 1) * n] = done[slot * n : (slot + 1) * n]
    return [c for c in out if c is not None]
