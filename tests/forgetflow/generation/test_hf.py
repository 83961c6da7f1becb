from __future__ import annotations

import copy

import pytest
import torch

from forgetflow.generation.base import GenerationBackend, PositionLimitError, SamplingParams
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


def test_token_budget_and_batch_size_do_not_change_greedy_output(tiny_model) -> None:
    model, tokenizer = tiny_model
    params = SamplingParams(max_tokens=12)
    whole = HFBackend(model, tokenizer, batch_size=64).generate(PROMPTS, params)
    backend = HFBackend(model, tokenizer, batch_size=3, token_budget=50)
    assert backend._batches([30, 5, 10, 20], 12) == [[0], [3], [2, 1]]  # longest first, <= 50
    assert backend.generate(PROMPTS, params) == whole


def test_min_tokens_holds_eos_back_and_logprobs_match_the_model(tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer)
    prompt = tokenizer("Name: Norma Fisher\n")["input_ids"]
    free = backend.generate([prompt], SamplingParams(max_tokens=100))[0]
    assert free.token_ids[-1] == tokenizer.eos_token_id and free.logprobs is None
    held = backend.generate(
        [prompt], SamplingParams(max_tokens=100, min_tokens=len(free.token_ids) + 5, logprobs=True)
    )[0]
    assert len(held.token_ids) >= len(free.token_ids) + 5
    assert tokenizer.eos_token_id not in held.token_ids[: len(free.token_ids) + 5]
    ids = torch.tensor([prompt + list(held.token_ids)])
    with torch.no_grad():
        logprobs = model(ids).logits.log_softmax(-1)[0]
    direct = [float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(held.token_ids)]
    assert held.logprobs == pytest.approx(direct, abs=1e-4)


def test_n_samples_per_prompt_come_prompt_major(tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer)
    params = SamplingParams(max_tokens=10, temperature=1.0, n=3, seed=1)
    got = backend.generate(PROMPTS[:2], params)
    assert len(got) == 6
    assert len({c.token_ids for c in got[:3]}) > 1  # independent samples of one prompt
    assert backend.generate(PROMPTS[:2], params) == got


def test_n_samples_share_one_prefill_and_each_scores_as_if_alone(tiny_model, own_logprobs):
    """A prompt's n copies in one batch are computed once (the first forward of a batch sees each
    prompt once), and every sample's log-probabilities are the model's on its own sequence, also
    where a batch of 7 rows splits a prompt's 5 copies."""
    model, tokenizer = tiny_model
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]
    seen: list[tuple[int, int]] = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: seen.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        params = SamplingParams(max_tokens=6, temperature=1.0, n=5, seed=3, logprobs=True)
        got = HFBackend(model, tokenizer, batch_size=7).generate(prompts, params)
    finally:
        hook.remove()
    prefills = [shape for shape in seen if shape[1] > 1]
    assert [rows for rows, _ in prefills] == [2, 2, 2]  # 5 + 2, 3 + 4, 1 + 5 copies: 7, 7, 6 rows
    assert len(got) == 20
    for index, completion in enumerate(got):
        direct = own_logprobs(prompts[index // 5], completion.token_ids)
        assert completion.logprobs == pytest.approx(direct, abs=1e-4)


def test_bad_prompts_and_params_are_refused(tiny_model) -> None:
    model, tokenizer = tiny_model
    with pytest.raises(ValueError, match="empty"):
        HFBackend(model, tokenizer).generate([[]], SamplingParams())
    with pytest.raises(ValueError, match="min_tokens"):
        SamplingParams(max_tokens=4, min_tokens=5)
    with pytest.raises(ValueError, match="greedy"):
        SamplingParams(n=2)
    with pytest.raises(ValueError, match="batch_size"):
        HFBackend(model, tokenizer, batch_size=0)


def test_a_prompt_past_the_position_limit_is_a_clear_error_not_a_crash(tiny_model) -> None:
    """The tiny world's GPT-2 takes 128 positions: a prompt and its new tokens up to that many
    decode in full; one more is refused up front, naming the lengths and what to do."""
    model, tokenizer = tiny_model
    backend = HFBackend(model, tokenizer)
    assert backend.max_positions == 128
    word = tokenizer(" Fisher", add_special_tokens=False)["input_ids"]
    short, long = word * (112 // len(word)), word * (120 // len(word))
    fits = backend.generate([short], SamplingParams(max_tokens=128 - len(short), ignore_eos=True))
    assert len(fits[0].token_ids) == 128 - len(short)
    with pytest.raises(PositionLimitError) as caught:
        backend.generate([short, long], SamplingParams(max_tokens=16))
    err = caught.value
    assert (err.longest, err.max_tokens, err.limit) == (len(long), 16, 128)
    assert f"a prompt of {len(long)} tokens plus max_tokens=16" in str(err)
    assert "the model takes 128" in str(err) and "fewer new tokens" in str(err)
