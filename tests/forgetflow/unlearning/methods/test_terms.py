"""The top-k KL retain term: a true KL of the reference's coarsened distribution (its top-k
tokens and one bucket for the rest), checked against a naive full-vocabulary computation."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace
from typing import Any

import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.lm.tokens import TokenBatch, encode, pad_right
from forgetflow.unlearning.methods.batch import TopK
from forgetflow.unlearning.methods.registry import get_method, names_of
from forgetflow.unlearning.methods.terms import topk_kl
from forgetflow.unlearning.reference_model import stack_topk, topk_rows


class FixedLogits(torch.nn.Module):
    """A stand-in model whose logits are given."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, **_: Any) -> SimpleNamespace:
        return SimpleNamespace(logits=self.logits)


def reference(model: torch.nn.Module, batch: TokenBatch, k: int) -> TopK:
    """What the loop caches: the reference's top-k rows, padded to the batch."""
    with torch.no_grad():
        return stack_topk(topk_rows(model, batch, k), batch.input_ids.shape[1] - 1)


def naive_coarsened_kl(ref_logits: torch.Tensor, logits: torch.Tensor, batch: TokenBatch, k: int):
    """KL over the full vocabulary in float64, the reference's top-k tokens kept and every other
    token merged into one bucket on both sides; the mean over each row's scored positions."""
    rows = []
    for r in range(logits.shape[0]):
        values = []
        for t in range(logits.shape[1] - 1):
            if not bool(batch.scored()[r, t]):
                continue
            p = torch.softmax(ref_logits[r, t].double(), -1)
            q = torch.softmax(logits[r, t].double(), -1)
            top = p.topk(min(k, p.numel())).indices
            rest = torch.ones_like(p, dtype=torch.bool)
            rest[top] = False
            pk = torch.cat([p[top], p[rest].sum()[None]])
            qk = torch.cat([q[top], q[rest].sum()[None]])
            values.append(float(torch.where(pk > 0, pk * (pk.log() - qk.log()), 0.0).sum()))
        rows.append(sum(values) / len(values))
    return rows


def tiny_batch(world, tokenizer) -> TokenBatch:
    table = pq.read_table(world.splits["retain"]).slice(0, 3).to_pylist()
    return pad_right(encode(tokenizer, [row["text"] for row in table]), tokenizer.pad_token_id)


@torch.no_grad()
def logits_of(model, batch: TokenBatch) -> torch.Tensor:
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.float()


def perturbed(base: torch.nn.Module, scale: float) -> torch.nn.Module:
    model = copy.deepcopy(base)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator), alpha=scale)
    return model


def test_topk_kl_equals_the_naive_coarsened_kl_on_a_tiny_model(tiny_world, tiny_model) -> None:
    base, tokenizer = tiny_model
    model = perturbed(base, 0.02)
    batch = tiny_batch(tiny_world, tokenizer)
    ref_logits, logits = logits_of(base, batch), logits_of(model, batch)
    for k in (1, 5, 50, base.config.vocab_size):
        with torch.no_grad():
            kl = topk_kl(model, batch, reference(base, batch, k)).tolist()
        assert kl == pytest.approx(naive_coarsened_kl(ref_logits, logits, batch, k), abs=1e-5)
        assert min(kl) > 1e-4  # the perturbation is seen


def test_topk_kl_with_k_the_vocabulary_is_the_full_kl(tiny_world, tiny_model) -> None:
    base, tokenizer = tiny_model
    model = perturbed(base, 0.05)
    batch = tiny_batch(tiny_world, tokenizer)
    p = torch.log_softmax(logits_of(base, batch)[:, :-1].double(), -1)
    q = torch.log_softmax(logits_of(model, batch)[:, :-1].double(), -1)
    per_position = (p.exp() * (p - q)).sum(-1)
    valid = batch.scored().double()
    full = ((per_position * valid).sum(1) / valid.sum(1)).tolist()
    with torch.no_grad():
        kl = topk_kl(model, batch, reference(base, batch, base.config.vocab_size)).tolist()
    assert kl == pytest.approx(full, abs=1e-5)
    with torch.no_grad():  # identical models: 0
        same = topk_kl(base, batch, reference(base, batch, base.config.vocab_size)).tolist()
        same_k = topk_kl(base, batch, reference(base, batch, 7)).tolist()
    assert max(map(abs, same + same_k)) < 1e-6


@pytest.mark.parametrize("k", [1, 2, 8, 31, 64])
def test_topk_kl_is_never_negative_on_random_logits(k: int) -> None:
    generator = torch.Generator().manual_seed(k)
    shape = (4, 9, 64)
    batch = TokenBatch(
        torch.zeros(shape[:2], dtype=torch.long), torch.ones(shape[:2], dtype=torch.long)
    )
    for _ in range(5):
        ref = torch.randn(shape, generator=generator) * 3
        theta = torch.randn(shape, generator=generator) * 3
        with torch.no_grad():
            kl = topk_kl(FixedLogits(theta), batch, reference(FixedLogits(ref), batch, k))
        assert float(kl.min()) >= -1e-7
        # a policy sharper than the reference on its top-k is no closer than the reference itself
        with torch.no_grad():
            sharp = topk_kl(FixedLogits(ref * 4), batch, reference(FixedLogits(ref), batch, k))
        assert float(sharp.min()) > 1e-3


def test_topk_kl_gradient_is_finite_when_k_covers_the_vocabulary() -> None:
    logits = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0))
    batch = TokenBatch(
        torch.zeros(2, 5, dtype=torch.long), torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])
    )
    model = FixedLogits(logits.clone())
    topk_kl(model, batch, reference(FixedLogits(logits * 2), batch, 16)).sum().backward()
    assert torch.isfinite(model.logits.grad).all()


def test_no_method_adds_the_antisample_term_by_default() -> None:
    """A method named after a paper is that paper's loss: the anti-sample term is opt-in."""
    for name in sorted(names_of("loss")):
        assert get_method(name).config().antisample_weight == 0.0


def test_topk_kl_sums_over_the_reference_top_k_and_the_rest() -> None:
    # two rows of 3 tokens, vocabulary 4; row 1 is padded after 2 tokens
    logits = torch.tensor(
        [[[2.0, 1.0, 0.0, -1.0], [0.0, 0.5, 3.0, 1.0], [0.0] * 4],
         [[1.0, 1.0, 1.0, 1.0], [9.0, 9.0, 9.0, 9.0], [0.0] * 4]]
    )  # fmt: skip
    batch = TokenBatch(torch.zeros(2, 3, dtype=torch.long), torch.tensor([[1, 1, 1], [1, 1, 0]]))
    ref_p = [[[0.6, 0.3], [0.5, 0.1]], [[0.7, 0.2], [0.0, 0.0]]]  # top-2 reference probabilities
    ref_ids = [[[0, 1], [2, 0]], [[3, 0], [0, 0]]]  # the second position of row 1 is padding
    # padding holds log-prob 0 and no rest mass, as the loop's stacked top-k does
    ref_logp = torch.tensor([[[math.log(p) if p else 0.0 for p in ps] for ps in r] for r in ref_p])
    rest = torch.tensor([[math.log(0.1), math.log(0.4)], [math.log(0.1), -math.inf]])
    reference = TopK(ref_logp, torch.tensor(ref_ids), rest)
    with torch.no_grad():
        kl = topk_kl(FixedLogits(logits), batch, reference).tolist()

    def hand(row: int, position: int) -> float:
        z = [math.exp(x) for x in logits[row, position].tolist()]
        theta = [v / sum(z) for v in z]
        ids = ref_ids[row][position]
        pairs = zip(ref_p[row][position], ids, strict=True)
        top = sum(p * math.log(p / theta[j]) for p, j in pairs)
        p_rest = 1 - sum(ref_p[row][position])
        theta_rest = sum(q for j, q in enumerate(theta) if j not in ids)
        return top + p_rest * math.log(p_rest / theta_rest)

    assert kl[0] == pytest.approx((hand(0, 0) + hand(0, 1)) / 2, rel=1e-5)
    assert kl[1] == pytest.approx(hand(1, 0), rel=1e-5)
