"""What the procedures' tests share: the tiny world's profile rows and runs of a method on a
fresh copy of the tiny model, with the trained weights to compare."""

from __future__ import annotations

import copy

import pytest
import torch

from forgetflow.records import Sample
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.loop import unlearn
from forgetflow.unlearning.state import TrainingResult

Weights = dict[str, torch.Tensor]


def profile_rows(world, split_name: str, n: int) -> list[Sample]:
    rows = [r for r in world.table("items").to_pylist()
            if r["split"] == split_name and r["family"] == "profile"]  # fmt: skip
    return [Sample(r["sample_id"], split_name, r["text"], r["repetitions"]) for r in rows][:n]


class Runs:
    """`train(method, config)` runs the method on 8 forget profiles (8 holdout, 12 retain beside
    them) from the tiny model as it is; `weights` copies a model's parameters; `max_diff` is the
    largest absolute difference between two such copies."""

    def __init__(self, tiny_model, world) -> None:
        self.model, self.tokenizer = tiny_model
        self.forget = profile_rows(world, "forget", 8)
        self.holdout = profile_rows(world, "holdout", 8)
        self.retain = profile_rows(world, "retain", 12)

    def train(self, method, config: TrainingConfig, **options) -> tuple[TrainingResult, Weights]:
        model = copy.deepcopy(self.model)
        result = unlearn(model, self.tokenizer, method, config, 0, self.forget, self.retain,
                         holdout=self.holdout, **options)  # fmt: skip
        return result, self.weights(model)

    @staticmethod
    def weights(model) -> Weights:
        return {k: v.detach().clone() for k, v in model.named_parameters()}

    @staticmethod
    def max_diff(a: Weights, b: Weights) -> float:
        return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.fixture()
def runs(tiny_model, tiny_world) -> Runs:
    return Runs(tiny_model, tiny_world)
