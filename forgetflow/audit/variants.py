"""Which variants the audit attacks and how: the given ones (before, after, the retain model; or
the CLI's model) with every attack, and the variants the stresses make from the subject (after,
or the CLI's model) with the cheaper ones. A relearned variant and its control (the retain model
relearned the same way) form a family attacked on half B of the forget set, the half they were
not relearned on; every other variant forms the main family, attacked on the whole forget set
(and, when a relearning stress runs, also reported on half B)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forgetflow.audit.stresses.registry import STRESSES, StressContext, apply_stress
from forgetflow.audit.stresses.relearn import split_samples
from forgetflow.records import ModelVariant, Sample
from forgetflow.unlearning.config import TrainingConfig

RETAIN_MODEL = "retain_model"
MAIN = ""  # the main family's name
HALF_B = "forget_half_b"  # the split name of half B's copies, and relearned variants' forget


@dataclass(frozen=True)
class Attacked:
    """A variant, the forget samples it is attacked on (half B for a relearned one), whether it
    gets the full attack set (`full`: sampled extraction, every membership attack and the
    retain-vs-holdout control) and its family (MAIN, or the relearning stress's name)."""

    variant: ModelVariant
    forget: tuple[Sample, ...]
    full: bool
    family: str = MAIN

    @property
    def label(self) -> str:
        return self.variant.label

    @property
    def is_retain(self) -> bool:
        """The retain model or a variant of it: it trained on the retain set, never on forget."""
        return RETAIN_MODEL in (self.variant.label, self.variant.parent)

    @property
    def forget_group(self) -> str:
        """The membership group of its forget samples against the holdout."""
        return f"{HALF_B}_vs_holdout" if self.family != MAIN else "forget_vs_holdout"


def family_baseline(family: str) -> str:
    """The label of a family's retain-model baseline (retain_model, retain_model.relearn_10)."""
    return RETAIN_MODEL if family == MAIN else f"{RETAIN_MODEL}.{family}"


def stressed_variants(
    given: Sequence[ModelVariant],
    subject: str,
    stresses: Sequence[str],
    forget: Sequence[Sample],
    root: Path,
    context: StressContext,
) -> list[Attacked]:
    """Every variant to attack: the given ones, each stress applied to `subject` and every
    relearning stress also to the retain model (the control), written under `root`."""
    by_label = {v.label: v for v in given}
    if subject not in by_label:
        raise ValueError(f"the stressed variant {subject!r} is not among {sorted(by_label)}")
    whole = tuple(forget)
    half_b = tuple(split_samples(forget, context.seed)[1]) if forget else ()
    out = [Attacked(v, whole, True) for v in given]
    for name in stresses:
        relearn = STRESSES.meta(name).get("kind") == "relearn"
        sources = [subject] + ([RETAIN_MODEL] if relearn and RETAIN_MODEL in by_label else [])
        for source in sources:
            made = apply_stress(name, by_label[source], root, context)
            out.append(Attacked(made, half_b if relearn else whole, False,
                                name if relearn else MAIN))  # fmt: skip
    return out


def relearns(attacked: Sequence[Attacked]) -> bool:
    """Whether a relearning stress runs (every variant is then also reported on half B)."""
    return any(a.family != MAIN for a in attacked)


def stress_root(work_dir: Path) -> tempfile.TemporaryDirectory[str]:
    """A scratch folder for the stressed variants' model directories, removed after the audit
    (their records, quantization.json and relearn.json, are what is kept)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="stressed-", dir=work_dir)


def relearn_context(
    forget: Sequence[Sample], training: TrainingConfig | None, seed: int, lr: float | None
) -> StressContext:
    """The stresses' context: relearning uses the unlearning run's training settings (the
    defaults where there is no run, as from the CLI)."""
    return StressContext(tuple(forget), training or TrainingConfig(), seed, lr)
