"""The collapse flag on real weights: on the tiny world it fires on a GradAscent run taken to
repetitive collapse; on SmolLM2 it fires on noise of each tensor's own scale and not on the model
itself.

The tiny world's models are too weak to show the flag staying off: a 2-layer GPT-2 trained on 60
background passages, its greedy continuations of general text loop ("the the the ..."), and its
repeated 4-gram share sits at the rule's 0.5 (0.51 and distinct-2 0.10 measured on world format
10), so whether it counts as collapsed is decided by float noise. SmolLM2 is the fluent model
that the "not collapsed" half is asserted on. (Noise of its own scale does not break the tiny
model fivefold either: at a general-text perplexity near 290 it rose 2.3x.)"""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.generation.hf import HFBackend
from forgetflow.models.io import load_model, positions_in
from forgetflow.records import Sample
from forgetflow.scenarios.world.background import background_passages
from forgetflow.scenarios.world.utility import general_text
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.utility.fluency import CollapseRule, collapse_reasons, continuation_prompts, fluency
from forgetflow.utility.sets import split_general
from forgetflow.utility.stage import passage_nlls


def reasons_of(model, tokenizer, passages, before_ppl: float | None) -> tuple[float, list[str]]:  # noqa: ANN001
    """General perplexity on `passages` and the collapse reasons."""
    scored = passage_nlls(model, tokenizer, passages, positions_in(model.config.to_dict()))
    ppl = math.exp(sum(t for t, _ in scored) / sum(c for _, c in scored))
    found = fluency(HFBackend(model, tokenizer), continuation_prompts(tokenizer, passages))
    return ppl, collapse_reasons(ppl, before_ppl, found, CollapseRule())


def eval_half(world) -> tuple[str, ...]:  # noqa: ANN001
    """The eval half of the world's general text the pipeline uses (seed 0)."""
    return split_general([general_text(world)], seed=0)[1].passages


def test_gradient_ascent_taken_to_repetition_collapses_it(tiny_world) -> None:
    model, tokenizer = load_model(tiny_world.model_dir)
    before, _ = reasons_of(model, tokenizer, eval_half(tiny_world), None)
    rows = pq.read_table(tiny_world.splits["forget"]).to_pylist()[:8]
    forget = [Sample(r["sample_id"], "forget", r["text"]) for r in rows]
    unlearn(model, tokenizer, GradAscentConfig(), TrainingConfig(steps=20, lr=1e-3, batch_size=4),
            0, forget)  # fmt: skip
    _, reasons = reasons_of(model, tokenizer, eval_half(tiny_world), before)
    assert any(r.startswith("repeated 4-gram") for r in reasons), reasons
    assert any(r.startswith("general perplexity") for r in reasons), reasons  # 293 -> 5e6 here


@pytest.mark.real_model
def test_noise_of_each_tensors_own_scale_collapses_smollm2_and_smollm2_is_not(smollm2) -> None:
    model, tokenizer = smollm2
    passages = tuple(background_passages("stdlib", 40, seed=0))
    before, reasons = reasons_of(model, tokenizer, passages, None)
    assert reasons == []
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.numel() > 1:
                param.add_(torch.randn(param.shape, generator=generator) * param.std())
    ppl, reasons = reasons_of(model, tokenizer, passages, before)
    assert ppl > 5 * before and reasons, (before, ppl)
