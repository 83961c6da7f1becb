from __future__ import annotations

import copy

import pytest
import torch

from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.generation.hf import HFBackend

PROMPTS = ["Name: Norma Fisher\n", "Email:", "Address: 12", "Name: Somebody Else\nPhone:"]


def hf_generate(model, tokenizer, prompt: str, n: int) -> list[int]:
    """HF greedy decoding of exactly n tokens, going on past EOS as `ignore_eos` does."""
    ids = tokenizer(prompt, return_tensors="pt")
    endless = copy.deepcopy(model)  # generate() falls back to the model's EOS: drop it there
    endless.config.eos_token_id = endless.generation_config.eos_token_id = None
    out = endless.generate(**ids, max_new_tokens=n, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    return out[0, ids["input_ids"].shape[1] :].tolist()


def test_batched_left_padded_greedy_equals_hf_generate_per_prompt(tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer, batch_size=4)
    assert isinstance(backend, GenerationBackend)
    got = backend.generate(PROMPTS, SamplingParams(max_tokens=24, ignore_eos=True))
    for prompt, completion in zip(PROMPTS, got, strict=True):
        assert list(completion.token_ids) == hf_generate(model, tokenizer, prompt, 24)
        assert completion.text == tokenizer.decode(completion.token_ids, skip_special_tokens=True)


def test_token_id_prompts_equal_text_prompts(tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer)
    ids = [tokenizer(p)["input_ids"] for p in PROMPTS]
    params = SamplingParams(max_tokens=8)
    assert backend.generate(ids, params) == backend.generate(PROMPTS, params)


def test_sampling_is_seeded(tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer)
    params = SamplingParams(max_tokens=16, temperature=1.5, top_k=50, top_p=0.95, seed=7)
    first = backend.generate(PROMPTS, params)
    assert backend.generate(PROMPTS, params) == first
    other = backend.generate(PROMPTS, params.model_copy(update={"seed": 8}))
    assert other != first


def test_stop_strings_cut_the_completion(tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer)
    full = backend.generate(PROMPTS[:1], SamplingParams(max_tokens=30))[0]
    assert "\n" in full.text
    cut = backend.generate(PROMPTS[:1], SamplingParams(max_tokens=30, stop=("\n",)))[0]
    assert cut.text == full.text.split("\n")[0]
    assert len(cut.token_ids) < len(full.token_ids)


def test_loglikelihood_equals_a_direct_computation(tiny_model) -> None:
    model, tokenizer = tiny_model
    context, continuation = "Name: Norma Fisher\n", "Email: tammy76@example.com"
    got = HFBackend(model, tokenizer).loglikelihood([(context, continuation), ("Email:", " x")])
    ctx_ids = tokenizer(context)["input_ids"]
    cont_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ctx_ids + cont_ids])
    with torch.no_grad():
        logprobs = model(ids).logits.log_softmax(-1)[0]
    expected = sum(float(logprobs[len(ctx_ids) - 1 + i, tok]) for i, tok in enumerate(cont_ids))
    assert got[0] == pytest.approx(expected, abs=1e-4)
    assert len(got) == 2
