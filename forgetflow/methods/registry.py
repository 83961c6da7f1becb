"""Methods by name: each is a pydantic config plus a loss function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel
from transformers import PreTrainedModel

from forgetflow.methods import grad_diff
from forgetflow.methods.batch import UnlearningBatch
from forgetflow.records import LossOutput

LossFn = Callable[[BaseModel, PreTrainedModel, UnlearningBatch], LossOutput]


@dataclass(frozen=True)
class Method:
    config: type[BaseModel]
    loss: LossFn


METHODS: dict[str, Method] = {
    "grad_diff": Method(grad_diff.GradDiffConfig, grad_diff.loss),
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown unlearning method {name!r}; registered: {sorted(METHODS)}")
    return METHODS[name]
