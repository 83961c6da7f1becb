"""The vLLM backend's shared prefill for n seeded top-k samples (forgetflow/generation/vllm.py),
against a stand-in server that answers from the tiny world model itself; no vLLM needed."""

from __future__ import annotations

import math
import threading
from collections import Counter

import numpy as np
import pytest
import torch

from forgetflow.generation.base import SamplingParams
from forgetflow.generation.vllm import VLLMBackend, first_tokens, shares_prefill

PROMPTS = ["Name: Norma Fisher\nEmail:", "Name: Somebody Else\nPhone:", "The"]


class ModelServer:
    """Answers the backend's requests as a vLLM server would, from the model: a top log-probs
    request with its next token's `logprobs` most likely tokens (raw log-probs, `token_id:<id>`
    keys), any other request greedily with each token's log-prob. Records every request body."""

    def __init__(self, model, tokenizer) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.bodies: list[dict] = []
        self.lock = threading.Lock()

    def logprobs(self, ids: list[int]) -> torch.Tensor:
        with self.lock, torch.no_grad():
            return self.model(torch.tensor([ids])).logits[0, -1].log_softmax(-1)

    def __call__(self, body: dict) -> dict:
        with self.lock:
            self.bodies.append(body)
        choices = []
        for index, prompt in enumerate(body["prompt"]):
            ids, scores, tops = list(prompt), [], []
            for _ in range(body["max_tokens"]):
                logprobs = self.logprobs(ids)
                token = int(logprobs.argmax())
                if body.get("return_tokens_as_token_ids"):
                    top = logprobs.topk(body["logprobs"])
                    pairs = zip(top.indices.tolist(), top.values.tolist(), strict=True)
                    tops.append({f"token_id:{t}": v for t, v in pairs})
                ids.append(token)
                scores.append(float(logprobs[token]))
            new = ids[len(prompt) :]
            logprobs = {"token_logprobs": scores} | ({"top_logprobs": tops} if tops else {})
            choices.append({"index": index, "text": self.tokenizer.decode(new), "token_ids": new,
                            "logprobs": logprobs})  # fmt: skip
        return {"choices": choices}


@pytest.fixture
def served(tiny_model):
    model, tokenizer = tiny_model
    server = ModelServer(model, tokenizer)
    backend = VLLMBackend(tokenizer, url="http://stand-in", max_logprobs=64)
    backend._post = server  # the stand-in answers in place of HTTP
    return backend, server


def test_n_samples_share_one_prefill_and_each_scores_as_the_model_does(
    served, tiny_model, own_logprobs
) -> None:
    """Each prompt is sent once for its next token's top log-probs; sample j of every prompt is
    continued from (prompt, its drawn first token) with seed + j; each sample's log-probs are
    the model's on its own sequence; the draw repeats."""
    _, tokenizer = tiny_model
    backend, server = served
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]
    params = SamplingParams(max_tokens=5, temperature=1.0, top_k=40, n=4, seed=7,
                            ignore_eos=True, logprobs=True)  # fmt: skip
    got = backend.generate(prompts, params)
    assert len(got) == 12
    prefill = [b for b in server.bodies if b.get("return_tokens_as_token_ids")]
    assert len(prefill) == 1 and prefill[0]["prompt"] == prompts
    assert (prefill[0]["n"], prefill[0]["max_tokens"], prefill[0]["logprobs"]) == (1, 1, 40)
    rest = sorted((b for b in server.bodies if b not in prefill), key=lambda b: b["seed"])
    assert [b["seed"] for b in rest] == [7, 8, 9, 10]
    for j, body in enumerate(rest):
        assert (body["n"], body["max_tokens"]) == (1, 4)
        firsts = [got[i * 4 + j].token_ids[0] for i in range(3)]
        assert body["prompt"] == [p + [t] for p, t in zip(prompts, firsts, strict=True)]
    for index, completion in enumerate(got):
        direct = own_logprobs(prompts[index // 4], completion.token_ids)
        assert completion.logprobs == pytest.approx(direct, abs=1e-4)
        assert completion.text == tokenizer.decode(completion.token_ids, skip_special_tokens=True)
    assert backend.generate(prompts, params) == got


def test_first_tokens_are_drawn_as_top_k_sampling_draws_them() -> None:
    """From 4 candidates, top-2 at temperature 1 draws token 1 with 0.5 / 0.8 = 0.625 and never
    tokens 3 or 4; at temperature 0.5 with 0.25 / 0.34 = 0.735. 8,000 draws: 5 standard errors
    are 0.027."""
    top = {f"token_id:{t}": math.log(p) for t, p in ((1, 0.5), (2, 0.3), (3, 0.15), (4, 0.05))}
    for temperature, share in ((1.0, 0.625), (0.5, 0.25 / 0.34)):
        params = SamplingParams(temperature=temperature, top_k=2, n=8000)
        drawn = first_tokens(top, params, np.random.default_rng(0))
        counts = Counter(t for t, _ in drawn)
        assert set(counts) == {1, 2}
        assert counts[1] / 8000 == pytest.approx(share, abs=0.03)
        assert {t: lp for t, lp in drawn} == {1: math.log(0.5), 2: math.log(0.3)}


def test_an_eos_drawn_first_ends_its_sample_unless_eos_is_ignored(tiny_model) -> None:
    _, tokenizer = tiny_model
    eos = tokenizer.eos_token_id
    backend = VLLMBackend(tokenizer, url="http://stand-in", max_logprobs=64)

    def server(body: dict) -> dict:
        if body.get("return_tokens_as_token_ids"):
            top = {"top_logprobs": [{f"token_id:{eos}": 0.0}], "token_logprobs": [0.0]}
            return {"choices": [{"index": 0, "text": "", "token_ids": [eos], "logprobs": top}]}
        new = [11, 12]
        return {"choices": [{"index": 0, "text": "", "token_ids": new,
                             "logprobs": {"token_logprobs": [-1.0, -2.0]}}]}  # fmt: skip

    backend._post = server
    params = SamplingParams(max_tokens=3, temperature=1.0, top_k=1, n=2, logprobs=True)
    ended = backend.generate(["Name:"], params)
    assert [(c.token_ids, c.text, c.logprobs) for c in ended] == [((eos,), "", (0.0,))] * 2
    going = backend.generate(["Name:"], params.model_copy(update={"ignore_eos": True}))
    assert [c.token_ids for c in going] == [(eos, 11, 12)] * 2
    assert going[0].logprobs == (0.0, -1.0, -2.0)


def test_vllm_draws_every_sample_where_a_shared_prefill_would_change_the_draw() -> None:
    """Stop strings, top-p, a minimum length, no top-k or one beyond the server's log-probs
    leave the n samples to vLLM, and so does a server forgetflow did not start."""
    base = SamplingParams(max_tokens=8, temperature=1.0, top_k=40, n=4)
    assert shares_prefill(base, 64)
    for change in ({"stop": ("\n",)}, {"top_p": 0.9}, {"min_tokens": 2}, {"top_k": 0},
                   {"top_k": 65}, {"n": 1}):  # fmt: skip
        assert not shares_prefill(base.model_copy(update=change), 64), change
    assert VLLMBackend(tokenizer=None, url="http://elsewhere").max_logprobs == 0
