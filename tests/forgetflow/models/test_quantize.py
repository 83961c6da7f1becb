"""Weight rounding (models/quantize.py): each group of 128 input-dimension weights on its own
absmax grid, within half a step of the original, a shorter last group with its own scale, the
input dimension found for Linear (out, in) and Conv1D (in, out) alike, rounding a rounded matrix
changing no bit, and only the blocks' Linear/Conv1D weights touched."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from forgetflow.models.quantize import (
    GROUP_SIZE,
    QuantizeError,
    levels,
    quantize_model,
    round_groups,
)


def naive_scales(weight: torch.Tensor, bits: int) -> list[list[float]]:
    """Per row, the scale of each group of GROUP_SIZE consecutive weights, one group at a time."""
    return [
        [float(row[start : start + GROUP_SIZE].abs().max()) / levels(bits)
         for start in range(0, row.numel(), GROUP_SIZE)]
        for row in weight.double()
    ]  # fmt: skip


@pytest.mark.parametrize("bits", [8, 4])
def test_every_weight_lies_within_half_a_step_of_its_group_grid(bits: int) -> None:
    weight = torch.randn(5, 300, generator=torch.Generator().manual_seed(bits))
    rounded = round_groups(weight, bits)
    assert rounded.dtype == weight.dtype and rounded.shape == weight.shape
    for row, new, scales in zip(weight, rounded, naive_scales(weight, bits), strict=True):
        for group, scale in enumerate(scales):
            part = slice(group * GROUP_SIZE, (group + 1) * GROUP_SIZE)
            error = (row[part].double() - new[part].double()).abs().max()
            assert error <= scale / 2 + 1e-6 * scale  # half a step, plus float32 storage
            steps = new[part].double() / scale  # on the group's integer grid
            assert (steps - steps.round()).abs().max() <= 1e-5
            assert steps.abs().max() <= levels(bits) + 1e-5


def test_a_shorter_last_group_gets_its_own_scale() -> None:
    """in = 130: a group of 128 weights of size 1..100 and a last group of two small ones. On
    the first group's 4-bit grid (step 100/7) the small ones would round to zero; on their own
    grid the larger one comes back exactly and the other to its nearest step."""
    linear = nn.Linear(130, 1, bias=False)
    with torch.no_grad():
        linear.weight[0, :128] = torch.linspace(1.0, 100.0, 128)
        linear.weight[0, 128:] = torch.tensor([0.003, -0.01])
    rounded = round_groups(linear.weight.detach(), 4)
    assert rounded[0, 129] == linear.weight[0, 129]  # the group's absmax: exact
    assert rounded[0, 128] == pytest.approx(0.01 * 2 / 7, rel=1e-6)  # 0.003 / (0.01 / 7) -> 2
    assert rounded[0, 127] == 100.0 and rounded[0, 0] == 0.0  # 1 < half of 100 / 7


def test_a_zero_group_stays_zero_and_rounding_a_rounded_matrix_changes_no_bit() -> None:
    weight = torch.randn(3, 256, generator=torch.Generator().manual_seed(0))
    weight[1, 128:] = 0.0
    for bits in (8, 4):
        once = round_groups(weight, bits)
        assert torch.equal(once[1, 128:], torch.zeros(128))
        assert torch.equal(round_groups(once, bits), once)


class Blocks(nn.Module):
    """A model whose blocks (`_no_split_modules`) sit in `h`, with a Linear head outside them."""

    _no_split_modules = ["ModuleDict"]

    def __init__(self, h: nn.ModuleList) -> None:
        super().__init__()
        self.h = h
        self.head = nn.Linear(256, 2)


def test_the_input_dimension_is_the_second_of_linear_and_the_first_of_conv1d() -> None:
    """One (out=2, in=256) matrix: output 0 has 100 then 127 ones (group 0) and 128 ones (group
    1). Grouped along the input, at 4 bits the ones of group 0 round to 0 (step 100/7) and those
    of group 1 come back as 1; grouped along the output they would not."""
    matrix = torch.ones(2, 256)
    matrix[0, 0] = 100.0
    linear = nn.Linear(256, 2, bias=False)
    conv = Conv1D(2, 256)  # nf = out, nx = in: weight (in, out)
    with torch.no_grad():
        linear.weight.copy_(matrix)
        conv.weight.copy_(matrix.t())
    model = Blocks(nn.ModuleList([nn.ModuleDict({"linear": linear, "conv": conv})]))
    quantize_model(model, 4)
    for got in (linear.weight, conv.weight.t()):
        assert got[0, 0] == 100.0 and torch.equal(got[0, 1:128], torch.zeros(127))
        assert torch.equal(got[0, 128:], torch.ones(128)) and torch.equal(got[1], torch.ones(256))
    kinds = {m.name: (m.kind, m.in_features, m.out_features, m.groups) for m in
             quantize_model(model, 4).modules}  # fmt: skip
    assert kinds == {"h.0.linear": ("linear", 256, 2, 4), "h.0.conv": ("conv1d", 256, 2, 4)}


def test_only_the_blocks_linear_and_conv1d_weights_are_rounded(tiny_model) -> None:
    model, _ = tiny_model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    done = quantize_model(model, 4)
    rounded = {f"{m.name}.weight" for m in done.modules}
    layers = model.config.n_layer
    assert {m.kind for m in done.modules} == {"conv1d"} and len(done.modules) == 4 * layers
    assert all(name.startswith("transformer.h.") for name in rounded)
    after = dict(model.named_parameters())
    assert set(done.untouched) == set(after) - rounded
    for name in after:
        assert torch.equal(after[name], before[name]) == (name not in rounded), name
    kept = ("wte.weight", "wpe.weight", "ln_f.weight", "h.0.ln_1.weight", "h.0.attn.c_attn.bias")
    assert {f"transformer.{name}" for name in kept} <= set(done.untouched)
    assert torch.equal(model.lm_head.weight, before["transformer.wte.weight"])  # tied, untouched


def test_bad_settings_and_a_model_without_blocks_are_one_line_errors(tiny_model) -> None:
    model, _ = tiny_model
    with pytest.raises(QuantizeError, match=r"bits=1; give 2\.\.16"):
        quantize_model(model, 1)
    with pytest.raises(QuantizeError, match="declares no transformer block class"):
        quantize_model(nn.Sequential(nn.Linear(4, 4)), 8)
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.transformer.h[0].mlp.c_fc.weight[0, 0] = float("nan")
    with pytest.raises(QuantizeError, match=r"transformer\.h\.0\.mlp\.c_fc\.weight holds inf"):
        quantize_model(broken, 8)
