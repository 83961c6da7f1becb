from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.lm import encode, pad_right, sequence_nll
from forgetflow.methods.batch import UnlearningBatch
from forgetflow.methods.grad_diff import GradDiffConfig, loss
from forgetflow.methods.registry import METHODS, get_method
from forgetflow.training import Cycler, TrainingConfig, unlearn


def texts(world, split: str, n: int) -> list[str]:
    return pq.read_table(world.splits[split])["text"].to_pylist()[:n]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_changes_weights_and_raises_forget_nll(name, tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    forget = texts(tiny_world, "forget", 4)
    batch = pad_right(encode(tokenizer, forget), tokenizer.pad_token_id)
    with torch.no_grad():
        before_nll = sequence_nll(model, batch).mean().item()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    method = get_method(name).config(forget_weight=1.0, retain_weight=0.0, antisample_weight=0.0)
    unlearn(model, tokenizer, method, TrainingConfig(steps=1, lr=1e-3, batch_size=4), 0, forget)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    with torch.no_grad():
        assert sequence_nll(model, batch).mean().item() > before_nll


def test_grad_diff_loss_is_its_formula(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    pad = tokenizer.pad_token_id
    forget = pad_right(encode(tokenizer, texts(tiny_world, "forget", 2)), pad)
    retain = pad_right(encode(tokenizer, texts(tiny_world, "retain", 3)), pad)
    twins = pad_right(encode(tokenizer, texts(tiny_world, "holdout", 2)), pad)
    config = GradDiffConfig(forget_weight=0.5, retain_weight=2.0, antisample_weight=3.0)
    out = loss(config, model, UnlearningBatch(forget, retain, twins))
    with torch.no_grad():
        nll = {name: sequence_nll(model, b).mean() for name, b in
               (("forget", forget), ("retain", retain), ("twins", twins))}  # fmt: skip
        expected = -0.5 * nll["forget"] + 2.0 * nll["retain"] + 3.0 * nll["twins"]
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(out.logs) == {"forget_nll", "retain_nll", "antisample_nll", "loss"}


def test_training_is_deterministic_in_its_seed(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    args = (tokenizer, GradDiffConfig(), TrainingConfig(steps=3, batch_size=2), 5,
            texts(tiny_world, "forget", 4), texts(tiny_world, "retain", 4))  # fmt: skip
    first = unlearn(model, *args)
    model.load_state_dict(state)
    second = unlearn(model, *args)
    assert [s.values for s in first] == [s.values for s in second]


def test_cycler_covers_every_index_each_epoch() -> None:
    cycler = Cycler(5, 2, seed=0)
    drawn = [i for _ in range(5) for i in cycler.next()]  # two epochs
    assert sorted(drawn) == sorted(list(range(5)) * 2)


def test_bad_method_and_empty_forget_set(tiny_model) -> None:
    model, tokenizer = tiny_model
    with pytest.raises(KeyError, match="registered"):
        get_method("nope")
    with pytest.raises(ValueError, match="forget set is empty"):
        unlearn(model, tokenizer, GradDiffConfig(), TrainingConfig(), 0, [])
    with pytest.raises(ValueError):
        GradDiffConfig(unknown=1)
