"""Methods by name: each is one module of this package with a pydantic config and a loss function
registered by `@METHODS.register(name, config=..., needs=..., preferred=...)`; the registry
imports every module of the package on first use, so a new method is one file dropped here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Annotated, Any

from pydantic import BaseModel, Field
from transformers import PreTrainedModel

from forgetflow.records import LossOutput, Sample
from forgetflow.registry import Registry, UnknownNameError
from forgetflow.unlearning.methods.batch import UnlearningBatch

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


class UnknownMethodError(UnknownNameError):
    """No method is registered under this name."""


class MethodDefinitionError(ValueError):
    """A method registered with a config that does not carry its name."""


def method_of(
    name: str,
    loss: LossFn,
    config: type[BaseModel],
    needs: Callable[[Any], frozenset[str]] = no_needs,
    preferred: Callable[[Any, Sequence[Sample], int, Any], list[str]] | None = None,
) -> Method:
    """The registered Method of a decorated loss function; its config's `name` must default to
    the registered name (the discriminator of the pipeline's method union)."""
    declared = config.model_fields["name"].default if "name" in config.model_fields else None
    if declared != name:
        raise MethodDefinitionError(
            f"method {name!r}: {config.__name__}.name defaults to {declared!r}; give it "
            f'`name: Literal["{name}"] = "{name}"`'
        )
    return Method(config, loss, needs, preferred)


METHODS: Registry[Method] = Registry(
    "unlearning method", "forgetflow.unlearning.methods", method_of, UnknownMethodError
)


def get_method(name: str) -> Method:
    return METHODS.get(name)


def method_config_union() -> Any:
    """A pipeline config's method, chosen by its `name`: the discriminated union of every
    registered method's config (the Prefect form lists each of them)."""
    configs = [method.config for method in METHODS.values()]
    if len(configs) == 1:
        return configs[0]
    return Annotated[reduce(or_, configs), Field(discriminator="name")]


def method_config(data: dict[str, Any]) -> BaseModel:
    """The config of the method named by `data["name"]`, validated from `data`; unknown fields
    and bad values raise pydantic's ValidationError."""
    name = data.get("name")
    if not isinstance(name, str):
        listed = ", ".join(repr(n) for n in sorted(METHODS.names()))
        raise UnknownMethodError(f"a method config needs a `name`; registered: {listed}")
    return get_method(name).config.model_validate(data)
