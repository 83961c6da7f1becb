from __future__ import annotations

import pytest

from forgetflow.generation.base import SamplingParams, generate_each
from forgetflow.records import Completion


class LimitedBackend:
    """Continues prompt p with tokens (p[0], j, 0, 1, 2, ...) for its j-th sample; fails a request
    where a prompt plus max_tokens passes its limit, as a model runs out of positions."""

    name = "limited"

    def __init__(self, max_positions: int | None) -> None:
        self.max_positions = max_positions
        self.requests: list[tuple[list[int], int]] = []

    def generate(self, prompts, params):
        for prompt in prompts:
            if self.max_positions is not None:
                assert len(prompt) + params.max_tokens <= self.max_positions, "out of positions"
        self.requests.append(([len(p) for p in prompts], params.max_tokens))
        return [Completion((p[0], j, *range(params.max_tokens - 2)), "")
                for p in prompts for j in range(params.n)]  # fmt: skip

    def loglikelihood(self, pairs):
        return [0.0 for _ in pairs]


PROMPTS = [[1] * 40, [2] * 5, [3] * 30, [4] * 10]
LENGTHS = [8, 50, 20, 45]


def test_one_request_where_the_positions_allow() -> None:
    backend = LimitedBackend(max_positions=None)
    done = generate_each(backend, PROMPTS, LENGTHS, SamplingParams(max_tokens=3, ignore_eos=True))
    assert backend.requests == [([40, 5, 30, 10], 50)]
    assert [c.token_ids[0] for c in done] == [1, 2, 3, 4]


def test_requests_stay_within_the_limit_and_answers_keep_their_order() -> None:
    backend = LimitedBackend(max_positions=64)  # 40 + 50 would not fit
    params = SamplingParams(temperature=1.0, n=2, ignore_eos=True)
    done = generate_each(backend, PROMPTS, LENGTHS, params)
    assert [(c.token_ids[0], c.token_ids[1]) for c in done] == [
        (p, j) for p in (1, 2, 3, 4) for j in (0, 1)
    ]
    for index, length in enumerate(LENGTHS):
        assert all(len(c.token_ids) >= length for c in done[2 * index : 2 * index + 2])
    assert len(backend.requests) == 2  # the two long prompts, then the two short ones


def test_a_prompt_near_the_limit_is_continued_to_the_limit() -> None:
    backend = LimitedBackend(max_positions=48)
    done = generate_each(backend, [[1] * 40, [2] * 3], [20, 20], SamplingParams())
    assert [len(c.token_ids) for c in done] == [8, 20]


def test_a_prompt_filling_the_model_is_refused() -> None:
    with pytest.raises(ValueError, match="fills the model's 40 positions"):
        generate_each(LimitedBackend(max_positions=40), [[1] * 40], [5], SamplingParams())
