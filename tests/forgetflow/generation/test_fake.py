from __future__ import annotations

import pytest

from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.generation.config import BackendConfig
from forgetflow.generation.fake import EOS, FakeBackend
from forgetflow.generation.registry import backend_params, open_backend
from forgetflow.generation.template import TemplateBackend


def test_fake_completions_are_a_function_of_their_inputs() -> None:
    fake = FakeBackend()
    assert isinstance(fake, GenerationBackend)
    greedy = SamplingParams(max_tokens=20)
    first = fake.generate(["a prompt", [1, 2, 3]], greedy)
    assert fake.generate(["a prompt", [1, 2, 3]], greedy.model_copy(update={"seed": 9})) == first
    assert first[0] != first[1]
    sampled = SamplingParams(max_tokens=20, temperature=1.0, seed=1, n=2)
    two = fake.generate(["a prompt"], sampled)
    assert len(two) == 2 and two[0] != two[1]
    assert fake.generate(["a prompt"], sampled.model_copy(update={"seed": 2})) != two


def test_fake_honours_lengths_eos_stop_and_logprobs() -> None:
    fake = FakeBackend(vocab_size=3)  # EOS is drawn often
    many = [f"p{i}" for i in range(40)]
    ended = fake.generate(many, SamplingParams(max_tokens=30))
    assert any(c.token_ids[-1] == EOS and len(c.token_ids) < 30 for c in ended)
    held = fake.generate(many, SamplingParams(max_tokens=30, min_tokens=8, logprobs=True))
    for c in held:
        assert len(c.token_ids) >= 8 and EOS not in c.token_ids[:8]
        assert c.logprobs is not None and len(c.logprobs) == len(c.token_ids)
    full = fake.generate(many, SamplingParams(max_tokens=30, ignore_eos=True))
    assert all(len(c.token_ids) == 30 for c in full)
    stop = full[0].text.split(" ")[2]
    cut = fake.generate(many[:1], SamplingParams(max_tokens=30, ignore_eos=True, stop=(stop,)))[0]
    assert cut.text == full[0].text[: full[0].text.index(stop)]


def test_fake_loglikelihood_is_negative_and_grows_with_the_continuation() -> None:
    fake = FakeBackend()
    one, two = fake.loglikelihood([("ctx", "word"), ("ctx", "word more")])
    assert -2 < one <= -1 and two < one
    assert fake.loglikelihood([("ctx", "word")]) == [one]


def test_registry_opens_each_backend_by_name(tmp_path, tiny_world) -> None:
    with open_backend(BackendConfig(name="fake"), None, tmp_path) as backend:
        assert backend.name == "fake"
    with open_backend(BackendConfig(name="template"), None, tmp_path) as backend:
        assert isinstance(backend, TemplateBackend)
    config = BackendConfig(name="hf", batch_size=4, token_budget=512)
    with open_backend(config, tiny_world.model_dir, tmp_path) as backend:
        assert backend.name == "hf" and backend.batch_size == 4 and backend.token_budget == 512
    assert backend_params(config) == {"backend": "hf", "batch_size": 4, "token_budget": 512}
    with pytest.raises(ValueError, match="needs a model directory"):
        with open_backend(BackendConfig(name="hf"), None, tmp_path):
            pass
    with pytest.raises(ValueError):
        BackendConfig(name="openai")  # type: ignore[arg-type]
