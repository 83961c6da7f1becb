"""Methods by name: each is one module of this package with a pydantic config and a function
registered under the method's name; the registry imports every module of the package on first
use, so a new method is one file dropped here. Two kinds:

- a loss method, `@METHODS.register(name, config=..., needs=..., preferred=...)` on
  `loss(config, model, batch) -> LossOutput`: the loop trains with it (loop.py);
- a procedure, `@METHODS.register(name, config=..., kind="procedure")` on
  `run(config, context) -> TrainingResult`: it drives the loop itself, one or more times, and
  may edit the weights between runs (`context`: procedure.ProcedureContext).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field
from transformers import PreTrainedModel

from forgetflow.records import LossOutput, Sample
from forgetflow.registry import Registry, UnknownNameError
from forgetflow.unlearning.methods.batch import UnlearningBatch

LossFn = Callable[[Any, PreTrainedModel, UnlearningBatch], LossOutput]
# run(config, context: procedure.ProcedureContext) -> state.TrainingResult
ProcedureFn = Callable[[Any, Any], Any]
KINDS = ("loss", "procedure")


def no_needs(config: BaseModel) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class LossMethod:
    """A loss the loop trains with."""

    kind: ClassVar[str] = "loss"
    config: type[BaseModel]
    loss: LossFn
    # which of batch.NEEDS the loop must fill in for this config
    needs: Callable[[Any], frozenset[str]] = field(default=no_needs)
    # the preferred text of each forget sample (methods that need PREFERRED), seeded; it takes
    # the tokenizer, which the prompt rule's fallback counts in (lm/prompts.py)
    preferred: Callable[[Any, Sequence[Sample], int, Any], list[str]] | None = None


@dataclass(frozen=True)
class Procedure:
    """A method that drives the loop one or more times (with loss methods of its choosing) and may
    edit the weights between runs."""

    kind: ClassVar[str] = "procedure"
    config: type[BaseModel]
    run: ProcedureFn


Method = LossMethod | Procedure


class UnknownMethodError(UnknownNameError):
    """No method is registered under this name."""


class MethodDefinitionError(ValueError):
    """A method registered with a config that does not carry its name, or with a bad kind."""


class NotALossError(ValueError):
    """A procedure was given where the loop needs a loss method."""


def method_of(
    name: str,
    function: LossFn | ProcedureFn,
    config: type[BaseModel],
    kind: str = "loss",
    needs: Callable[[Any], frozenset[str]] = no_needs,
    preferred: Callable[[Any, Sequence[Sample], int, Any], list[str]] | None = None,
) -> Method:
    """The registered method of a decorated function: a loss (`kind="loss"`, the default) or a
    procedure's run (`kind="procedure"`); its config's `name` must default to the registered name
    (the discriminator of the pipeline's method union)."""
    declared = config.model_fields["name"].default if "name" in config.model_fields else None
    if declared != name:
        raise MethodDefinitionError(
            f"method {name!r}: {config.__name__}.name defaults to {declared!r}; give it "
            f'`name: Literal["{name}"] = "{name}"`'
        )
    if kind not in KINDS:
        raise MethodDefinitionError(
            f"method {name!r}: kind {kind!r}; a method's kind is one of {KINDS}"
        )
    if kind == "procedure":
        if needs is not no_needs or preferred is not None:
            raise MethodDefinitionError(
                f"procedure {name!r}: needs and preferred belong to a loss method; the loss "
                "methods a procedure trains with bring their own"
            )
        return Procedure(config, function)
    return LossMethod(config, function, needs, preferred)


METHODS: Registry[Method] = Registry(
    "unlearning method", "forgetflow.unlearning.methods", method_of, UnknownMethodError
)


def get_method(name: str) -> Method:
    return METHODS.get(name)


def get_loss_method(name: str) -> LossMethod:
    """The loss method `name`; a procedure's name is one error line (the loop needs a loss)."""
    method = get_method(name)
    if not isinstance(method, LossMethod):
        losses = ", ".join(repr(n) for n in sorted(names_of("loss")))
        raise NotALossError(
            f"method {name!r} is a {method.kind}: it drives the loop itself and has no loss to "
            f"train with; the loop trains with a loss method: {losses}"
        )
    return method


def names_of(kind: str) -> tuple[str, ...]:
    """The registered methods of one kind ("loss" or "procedure")."""
    return tuple(name for name, method in METHODS.items() if method.kind == kind)


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
