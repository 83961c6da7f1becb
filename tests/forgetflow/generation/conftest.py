from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch


@pytest.fixture
def own_logprobs(tiny_model) -> Callable[[Sequence[int], Sequence[int]], list[float]]:
    """score(prompt, tokens): the tiny model's log-probability of each of `tokens` after
    `prompt`, from one forward of the whole sequence alone."""
    model, _ = tiny_model

    def score(prompt: Sequence[int], tokens: Sequence[int]) -> list[float]:
        with torch.no_grad():
            logits = model(torch.tensor([[*prompt, *tokens]])).logits
        logprobs = logits.log_softmax(-1)[0]
        return [float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(tokens)]

    return score
