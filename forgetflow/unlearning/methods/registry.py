"""Methods by name: each is one module with a pydantic config, a loss function and, where the
method needs more than the forget/retain/anti-sample rows, what the loop must provide."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter
from transformers import PreTrainedModel

from forgetflow.records import LossOutput, Sample
from forgetflow.unlearning.methods import grad_ascent, grad_diff, idk_dpo, npo, simnpo
from forgetflow.unlearning.methods.batch import UnlearningBatch
from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.methods.grad_diff import GradDiffConfig
from forgetflow.unlearning.methods.idk_dpo import IdkDPOConfig
from forgetflow.unlearning.methods.npo import NPOConfig
from forgetflow.unlearning.methods.simnpo import SimNPOConfig

LossFn = Callable[[Any, PreTrainedModel, UnlearningBatch], LossOutput]


def no_needs(config: BaseModel) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class Method:
    config: type[BaseModel]
    loss: LossFn
    # which of batch.NEEDS the loop must fill in for this config
    needs: Callable[[Any], frozenset[str]] = field(default=no_needs)
    # the preferred text of each forget sample (methods that need PREFERRED), seeded; it takes
    # the tokenizer, which the prompt rule's fallback counts in (lm/prompts.py)
    preferred: Callable[[Any, Sequence[Sample], int, Any], list[str]] | None = None


METHODS: dict[str, Method] = {
    "grad_ascent": Method(GradAscentConfig, grad_ascent.loss),
    "grad_diff": Method(GradDiffConfig, grad_diff.loss, grad_diff.needs),
    "npo": Method(NPOConfig, npo.loss, npo.needs),
    "simnpo": Method(SimNPOConfig, simnpo.loss),
    "idk_dpo": Method(IdkDPOConfig, idk_dpo.loss, idk_dpo.needs, idk_dpo.preferred),
}

# A pipeline config's method, chosen by its `name`
MethodConfig = Annotated[
    GradAscentConfig | GradDiffConfig | NPOConfig | SimNPOConfig | IdkDPOConfig,
    Field(discriminator="name"),
]
_METHOD_CONFIG: TypeAdapter[MethodConfig] = TypeAdapter(MethodConfig)


class UnknownMethodError(KeyError):
    """No method is registered under this name."""


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UnknownMethodError(
            f"unknown unlearning method {name!r}; registered: {sorted(METHODS)}"
        )
    return METHODS[name]


def method_config(data: dict[str, Any]) -> BaseModel:
    """The config of the method named by `data["name"]`, validated from `data`; unknown fields
    and bad values raise pydantic's ValidationError."""
    name = data.get("name")
    if not isinstance(name, str):
        raise UnknownMethodError(f"a method config needs a `name`; registered: {sorted(METHODS)}")
    get_method(name)
    return _METHOD_CONFIG.validate_python(data)
