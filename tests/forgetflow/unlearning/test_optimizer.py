"""The optimizer the loop trains with: Adam's and AdamW's betas as configured, and refused
where they do not apply."""

from __future__ import annotations

import math

import pytest
import torch

from forgetflow.unlearning.config import TrainingConfig, make_optimizer


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_steps_with_the_configured_betas(optimizer) -> None:
    """Two steps on one weight with gradients 1 then -2, against Adam's update by hand: the
    second step depends on both betas (the first is lr times the gradient's sign)."""
    lr, eps, (b1, b2) = 0.1, 1e-8, (0.5, 0.9)
    weight = torch.nn.Parameter(torch.zeros(1))
    config = TrainingConfig(lr=lr, optimizer=optimizer, betas=(b1, b2))
    optimizer_ = make_optimizer(config, [weight])
    m = v = expected = 0.0
    for step, grad in enumerate((1.0, -2.0), start=1):
        weight.grad = torch.tensor([grad])
        optimizer_.step()
        m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad**2
        expected -= lr * (m / (1 - b1**step)) / (math.sqrt(v / (1 - b2**step)) + eps)
        assert weight.item() == pytest.approx(expected, abs=1e-6)
    default = torch.nn.Parameter(torch.zeros(1))
    optimizer_ = make_optimizer(TrainingConfig(lr=lr, optimizer=optimizer), [default])
    for grad in (1.0, -2.0):
        default.grad = torch.tensor([grad])
        optimizer_.step()
    assert abs(default.item() - weight.item()) > 1e-3  # (0.9, 0.999) steps elsewhere


def test_betas_out_of_range_or_with_sgd_are_refused() -> None:
    with pytest.raises(ValueError, match=r"betas \[0.9, 1.0\]: each must be in \[0, 1\)"):
        TrainingConfig(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="use optimizer adam or adamw"):
        TrainingConfig(optimizer="sgd", betas=(0.9, 0.98))
