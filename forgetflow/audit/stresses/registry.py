"""Stresses by name: a stress makes a new model variant from one (DESIGN.md section 3), and every
attack and metric then applies to it unchanged. Each module of this package registers its
stresses with `@STRESSES.register(name, kind=...)` on `apply(source, root, context) ->
ModelVariant`; the registry imports every module of the package on first use, so a new stress is
one file dropped here.

`apply` writes the new variant's model directory into `root` as `<root>/<label>` (label:
`variant_label`) and returns the variant, its `parent` the source's label. `context` is what a
stress may need beyond the model (relearning: the forget set, the unlearning run's training
settings, the seed); a stress that needs none (quantize) ignores it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgetflow.records import ModelVariant, Sample
from forgetflow.registry import Registry, UnknownNameError

if TYPE_CHECKING:  # the annotation only: importing the unlearning stage is left to relearn
    from forgetflow.unlearning.config import TrainingConfig


@dataclass(frozen=True)
class StressContext:
    """What a stress may use besides the source model. `forget`: the forget set (relearning
    splits it in halves); `training`: the unlearning run's training settings (relearning takes
    its optimizer, batch size and lr); `seed`: the seed of the split and of the relearning run;
    `relearn_lr`: relearning's learning rate instead of `training.lr` (`relearn.lr`)."""

    forget: Sequence[Sample] = ()
    training: TrainingConfig | None = None
    seed: int = 0
    relearn_lr: float | None = None


StressFn = Callable[[ModelVariant, Path, StressContext], ModelVariant]


class UnknownStressError(UnknownNameError):
    """No stress is registered under this name."""


STRESSES: Registry[StressFn] = Registry(
    "stress", "forgetflow.audit.stresses", error=UnknownStressError
)


def variant_label(source: ModelVariant, stress: str) -> str:
    """The label of the variant `stress` makes from `source`: `<source>.<stress>` (after.int4)."""
    return f"{source.label}.{stress}"


def read_record(path: Path) -> dict[str, Any]:
    """The JSON record a stress wrote beside its model (quantization.json, relearn.json); {}
    when there is none or it does not parse (the variant is then made again)."""
    if not path.is_file():
        return {}
    try:
        held = json.loads(path.read_text())
    except ValueError:
        return {}
    return held if isinstance(held, dict) else {}


def apply_stress(
    name: str, source: ModelVariant, root: Path, context: StressContext | None = None
) -> ModelVariant:
    """The variant stress `name` makes from `source`, written under `root`, with `context`
    (default: an empty one); an unknown name is one line with the registered ones and a close
    match."""
    return STRESSES.get(name)(source, root, context or StressContext())
