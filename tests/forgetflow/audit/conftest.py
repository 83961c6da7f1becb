from __future__ import annotations

import pytest

from forgetflow.generation.base import SamplingParams
from forgetflow.records import Completion


class ByPrompt:
    """Completions by the prompt's text: the greedy one, and `n` sampled ones cycling a list;
    a prompt it was not given answers `default` (None: a KeyError). Records each request's
    parameters."""

    name = "by-prompt"

    def __init__(self, tokenizer, greedy: dict[str, str], sampled: dict[str, list[str]],
                 default: str | None = None) -> None:  # fmt: skip
        self.tokenizer, self.greedy, self.sampled = tokenizer, greedy, sampled
        self.default = default
        self.requests: list[SamplingParams] = []

    def answer(self, table: dict, key: str):
        return table[key] if self.default is None or key in table else None

    def generate(self, prompts, params: SamplingParams) -> list[Completion]:
        self.requests.append(params)
        out = []
        for prompt in prompts:
            key = self.tokenizer.decode(list(prompt), skip_special_tokens=True)
            if params.temperature == 0:
                texts = [self.answer(self.greedy, key) or self.default]
            else:
                drawn = self.answer(self.sampled, key) or [self.default]
                texts = [drawn[j % len(drawn)] for j in range(params.n)]
            for text in texts:
                ids = tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])
                out.append(Completion(ids, text))
        return out

    def loglikelihood(self, pairs):
        raise NotImplementedError


@pytest.fixture()
def by_prompt() -> type[ByPrompt]:
    """The ByPrompt backend class: `by_prompt(tokenizer, greedy, sampled[, default])`."""
    return ByPrompt
