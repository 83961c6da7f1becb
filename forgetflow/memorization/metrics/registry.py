"""Memorization metrics by name: each module of this package registers metric families with
`@METRICS.register(name, higher_is_memorized=..., form=...)`; a parameterized name (min_k_20,
el_10, extract_k32) resolves through its family's form ("min_k_<p>"). The registry imports every
module of the package on first use, so a new metric is one file dropped here.

A teacher-forced family computes `(scores, mask, texts, spec) -> values` from the one forward
pass all of them share (TokenScores); any other computes `(run, items, spec) -> values` with
the model, tokenizer and generation backend of the scoring run (ScoringRun).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend
from forgetflow.memorization.windows import DEFAULT_MIN_TAIL, TokenizedSample
from forgetflow.registry import Registry, UnknownNameError, did_you_mean

USES = frozenset({"logprobs", "zscores"})  # what a teacher-forced family reads beyond the argmax


@dataclass(frozen=True)
class TokenScores:
    """Per target position, all (B, T): log p(x_t | x_<t), whether x_t is the argmax, and the
    Min-K%++ z-score (log p(x_t) - mu_t) / sigma_t (log-probs and z-scores are None when no
    metric asked for them: MA needs only the argmax)."""

    logprobs: torch.Tensor | None
    hits: torch.Tensor
    zscores: torch.Tensor | None


@dataclass(frozen=True)
class ScoringRun:
    """What a family that is not teacher-forced computes with."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    backend: GenerationBackend
    batch_size: int


@dataclass(frozen=True)
class MetricFamily:
    """One registered metric family and its metadata."""

    name: str
    compute: Callable[..., Sequence[float]]
    higher_is_memorized: bool  # the direction: a higher value means more memorized
    form: str  # the name itself, or a pattern with one integer parameter: "min_k_<p>"
    bounds: tuple[int, int | None] = (1, None)  # the parameter's range, inclusive
    teacher_forced: bool = True  # computed from the shared forward pass (TokenScores)
    uses: frozenset[str] = frozenset({"logprobs"})  # of USES (teacher-forced families)
    decodes: bool = False  # generates text through the run's backend
    check: Callable[[TokenizedSample, Any], None] | None = None  # refuses an item before compute
    min_tail: Callable[[int], int] | None = None  # shortest window tail for a parameter

    @property
    def prefix(self) -> str | None:
        """The name's part before the parameter, or None for a plain name."""
        return self.form[: self.form.index("<")] if "<" in self.form else None

    def describe(self) -> str:
        if self.prefix is None:
            return self.form
        var = self.form[self.form.index("<") + 1 : self.form.index(">")]
        low, high = self.bounds
        return f"{self.form} ({var} >= {low})" if high is None else f"{self.form} ({low}..{high})"


class UnknownMetricError(UnknownNameError):
    """No metric family matches this name, or its parameter is out of range."""


def family_of(name: str, compute: Callable[..., Sequence[float]], **meta: Any) -> MetricFamily:
    uses = frozenset(meta.pop("uses", {"logprobs"}))
    if not uses <= USES:
        raise ValueError(f"metric {name!r}: uses {sorted(uses - USES)}; known: {sorted(USES)}")
    return MetricFamily(name, compute, uses=uses, form=meta.pop("form", name), **meta)


METRICS: Registry[MetricFamily] = Registry(
    "memorization metric", "forgetflow.memorization.metrics", family_of, UnknownMetricError
)


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: its family (kind) and its number (p for Min-K, n for EL, k for
    extract; 0 for a plain name)."""

    name: str
    kind: str
    param: int = 0
    family: MetricFamily | None = field(default=None, compare=False, repr=False)

    @property
    def teacher_forced(self) -> bool:
        return self.family is not None and self.family.teacher_forced


def metric_forms() -> str:
    return ", ".join(family.describe() for family in METRICS.values())


def unknown_metric(name: str, why: str) -> UnknownMetricError:
    known = [f.form for f in METRICS.values()]
    hint = did_you_mean(name, known)
    return UnknownMetricError(f"{why} metric {name!r}; valid forms: {metric_forms()}{hint}")


def parse_metric(name: str) -> MetricSpec:
    for family in METRICS.values():
        prefix = family.prefix
        if prefix is None and name == family.name:
            return MetricSpec(name, family.name, 0, family)
        if prefix is not None and name.startswith(prefix) and name[len(prefix) :].isdigit():
            param = int(name[len(prefix) :])
            low, high = family.bounds
            if param < low or (high is not None and param > high):
                raise unknown_metric(name, "out-of-range")
            return MetricSpec(name, family.name, param, family)
    raise unknown_metric(name, "unknown")


def parse_metrics(names: Iterable[str]) -> tuple[MetricSpec, ...]:
    """The specs of `names` in order, each once; a ValueError names any unknown one."""
    if isinstance(names, str):
        names = (names,)
    specs = {name: parse_metric(name) for name in names}
    if not specs:
        raise ValueError(f"no metrics requested; valid forms: {metric_forms()}")
    return tuple(specs.values())


def direction(name: str) -> int:
    """+1 when a higher value of metric `name` means more memorized, -1 when lower does."""
    return 1 if METRICS.get(parse_metric(name).kind).higher_is_memorized else -1


def window_tail(names: Iterable[str]) -> int:
    """The fewest tokens a last window may keep and still be scored by every metric in `names`
    (EL_n needs n + 1; a shorter tail joins the window before it at ingest)."""
    specs = parse_metrics(names)
    tails = [s.family.min_tail(s.param) for s in specs if s.family and s.family.min_tail]
    return max(tails, default=DEFAULT_MIN_TAIL)
