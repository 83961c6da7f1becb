"""Stresses: operations that make a new model variant from one (quantize: int8, int4; relearn:
relearn_10, relearn_50). The registry (registry.py) finds them by name; each module of this
package registers its own."""

from forgetflow.audit.stresses.registry import (
    STRESSES,
    StressContext,
    StressFn,
    UnknownStressError,
    apply_stress,
    variant_label,
)

__all__ = [
    "STRESSES", "StressContext", "StressFn", "UnknownStressError", "apply_stress",
    "variant_label",
]  # fmt: skip
