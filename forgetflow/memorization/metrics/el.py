"""EL_n (extraction likelihood, Jang et al. 2022) as a registered metric: the computation lives
in forgetflow.memorization.el."""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.memorization.el import el_scores
from forgetflow.memorization.metrics.registry import METRICS, MetricSpec, ScoringRun
from forgetflow.memorization.windows import ScoringInputError, TokenizedSample


def check(item: TokenizedSample, spec: MetricSpec) -> None:
    name = item.sample.sample_id
    if item.is_qa:
        raise ScoringInputError(
            f"{spec.name} asked for QA sample {name!r}: EL_n scores text rows only"
        )
    if len(item.ids) < spec.param + 1:
        raise ScoringInputError(
            f"{spec.name} asked for sample {name!r} of {len(item.ids)} tokens: "
            f"EL_{spec.param} needs at least {spec.param + 1}"
        )


def min_tail(n: int) -> int:
    """A window's tail shorter than n + 1 tokens joins the window before it."""
    return n + 1


@METRICS.register(
    "el", higher_is_memorized=True, form="el_<n>", teacher_forced=False, uses=(), check=check,
    min_tail=min_tail,
)  # fmt: skip
def el_values(run: ScoringRun, items: Sequence[TokenizedSample], spec: MetricSpec) -> list[float]:
    """Extraction likelihood of each text row."""
    sequences = [list(i.ids) for i in items]
    return el_scores(run.model, sequences, spec.param, start=1, batch_size=run.batch_size)
