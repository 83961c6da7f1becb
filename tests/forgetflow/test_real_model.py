"""A real pretrained model (SmolLM2-135M-Instruct, pulled from PyPI) through scoring and the
unlearning loop: `make test-real`, in CI."""

from __future__ import annotations

import pytest
import torch

from forgetflow.lm.logprobs import greedy_hits, sequence_nll, split_head
from forgetflow.lm.tokens import encode, pad_right
from forgetflow.memorization.metrics import score_samples
from forgetflow.records import Sample
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.registry import method_config

pytestmark = pytest.mark.real_model

FAMOUS = "The quick brown fox jumps over the lazy dog. To be, or not to be, that is the question."
RANDOM = "Zebra quantum 7741 marmalade idle purple Xanadu 90210 seventeen oblong whisper"


def test_smollm2_loads_as_a_llama_with_its_tokenizer(smollm2) -> None:
    model, tokenizer = smollm2
    assert model.config.model_type == "llama" and model.config.vocab_size == 49152
    assert next(model.parameters()).dtype == torch.float32 and not model.training
    assert tokenizer.pad_token_id is not None


def test_ma_on_real_text_ranks_a_famous_line_above_noise(smollm2) -> None:
    model, tokenizer = smollm2
    samples = [Sample("famous", "forget", FAMOUS), Sample("noise", "holdout", RANDOM),
               Sample("qa", "forget", " Paris", prompt="The capital of France is")]  # fmt: skip
    scores = {s.sample_id: s.values for s in score_samples(model, tokenizer, samples, 3)}
    assert scores["famous"]["ma"] > 0.45 > 0.25 > scores["noise"]["ma"]  # 0.55 and 0.15 here
    assert scores["famous"]["loss"] < scores["noise"]["loss"]
    assert scores["qa"]["ma"] == 1.0  # it knows the capital of France
    fast = score_samples(model, tokenizer, samples, 3, metrics=("ma",))  # the argmax-only path
    assert [s.values["ma"] for s in fast] == [scores[s.sample_id]["ma"] for s in samples]
    assert split_head(model) is not None  # Llama: body and a plain linear head
    batch = pad_right(encode(tokenizer, [FAMOUS, RANDOM]), tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    expected = logits[:, :-1].argmax(-1).eq(batch.input_ids[:, 1:]) & batch.scored()
    assert torch.equal(greedy_hits(model, batch.input_ids, batch.scored()), expected)


def test_one_unlearning_step_changes_the_weights_and_raises_the_forget_loss(smollm2) -> None:
    model, tokenizer = smollm2
    forget = [Sample("famous", "forget", FAMOUS),
              Sample("qa", "forget", " Paris", prompt="The capital of France is")]  # fmt: skip
    batch = pad_right(encode(tokenizer, [FAMOUS]), tokenizer.pad_token_id)
    with torch.no_grad():
        before_loss = float(sequence_nll(model, batch))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training = TrainingConfig(steps=1, batch_size=2, lr=1e-4)
    result = unlearn(model, tokenizer, method_config({"name": "grad_ascent"}), training, 0, forget)
    assert result.steps == 1
    changed = [k for k, v in result.model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) > 0.9 * len(before)
    with torch.no_grad():
        assert float(sequence_nll(result.model, batch)) > before_loss
