"""Stresses by name: a stress makes a new model variant from one (DESIGN.md section 3), and every
attack and metric then applies to it unchanged. Each module of this package registers its
stresses with `@STRESSES.register(name, kind=...)` on `apply(source, root) -> ModelVariant`; the
registry imports every module of the package on first use, so a new stress is one file dropped
here.

`apply` writes the new variant's model directory into `root` as `<root>/<label>` (label:
`variant_label`) and returns the variant, its `parent` the source's label.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forgetflow.records import ModelVariant
from forgetflow.registry import Registry, UnknownNameError

StressFn = Callable[[ModelVariant, Path], ModelVariant]


class UnknownStressError(UnknownNameError):
    """No stress is registered under this name."""


STRESSES: Registry[StressFn] = Registry(
    "stress", "forgetflow.audit.stresses", error=UnknownStressError
)


def variant_label(source: ModelVariant, stress: str) -> str:
    """The label of the variant `stress` makes from `source`: `<source>+<stress>` (after+int4)."""
    return f"{source.label}+{stress}"


def apply_stress(name: str, source: ModelVariant, root: Path) -> ModelVariant:
    """The variant stress `name` makes from `source`, written under `root`; an unknown name is
    one line with the registered ones and a close match."""
    return STRESSES.get(name)(source, root)
