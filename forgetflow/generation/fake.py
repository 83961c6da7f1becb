"""A fake backend: deterministic completions and log-likelihoods, for unit tests of the stages.

A completion is a function of the prompt, the completion's index among `n` and, when sampling,
the seed: greedy completions ignore the seed, as a model's would. Token k reads as the word
`WORDS[k % len(WORDS)]`, so texts are readable and stop strings can cut them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from forgetflow.generation.base import Prompt, SamplingParams
from forgetflow.generation.config import BACKENDS
from forgetflow.generation.registry import BackendRequest
from forgetflow.hashing import stable_seed
from forgetflow.records import Completion

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliett", "kilo", "lima", "mike", "november", "oscar", "papa")  # fmt: skip
EOS = 0


def prompt_key(prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else ",".join(str(int(t)) for t in prompt)


def seeded(*parts: object) -> random.Random:
    return random.Random(stable_seed(*parts))


def token_logprob(token: int) -> float:
    return -1.0 - (token % 7) / 7


class FakeBackend:
    """No model: what it returns depends only on its inputs."""

    name = "fake"
    max_positions = None

    def __init__(self, vocab_size: int = 64) -> None:
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
        self.vocab_size = vocab_size

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(WORDS[t % len(WORDS)] for t in ids if t != EOS)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        out = []
        for prompt in prompts:
            for index in range(params.n):
                seed = params.seed if params.temperature > 0 else "greedy"
                out.append(self._one(seeded(prompt_key(prompt), index, seed), params))
        return out

    def _one(self, rng: random.Random, params: SamplingParams) -> Completion:
        ids = []
        while len(ids) < params.max_tokens:
            token = rng.randrange(self.vocab_size)
            if token == EOS and len(ids) < params.min_tokens:
                continue  # EOS is not allowed yet: draw again
            ids.append(token)
            if token == EOS and not params.ignore_eos:
                break
        text = self.decode(ids)
        for end in range(1, len(ids) + 1) if params.stop else ():
            hits = [i for i in map(self.decode(ids[:end]).find, params.stop) if i >= 0]
            if hits:
                ids, text = ids[:end], self.decode(ids[:end])[: min(hits)]
                break
        logprobs = tuple(token_logprob(t) for t in ids) if params.logprobs else None
        return Completion(tuple(ids), text, logprobs)

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Minus a number in [1, 2) per whitespace word of the continuation, fixed by the pair."""
        return [
            -sum(1.0 + seeded(context, word).random() for word in continuation.split())
            for context, continuation in pairs
        ]


@BACKENDS.register("fake", serves_model=False)
@contextmanager
def open_fake(request: BackendRequest) -> Iterator[FakeBackend]:
    """No model: deterministic completions (the model directory is ignored)."""
    yield FakeBackend()
