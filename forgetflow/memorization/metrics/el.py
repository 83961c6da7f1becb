"""EL_n (extraction likelihood, Jang et al. 2022) as a registered metric: the computation lives
in forgetflow.memorization.el."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from forgetflow.memorization.el import el_scores
from forgetflow.memorization.metrics.registry import METRICS, MetricSpec, ScoringRun
from forgetflow.memorization.windows import ScoringInputError, TokenizedSample


def check(item: TokenizedSample, spec: MetricSpec) -> None:
    name = item.sample.sample_id
    if item.is_qa:
        raise ScoringInputError(
            f"{spec.name} asked for QA sample {name!r}: EL_n scores text rows and windows only"
        )
    if item.end - item.start < spec.param:
        raise ScoringInputError(
            f"{spec.name} asked for sample {name!r} of {item.end - item.start + 1} tokens: "
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
    """Extraction likelihood of each text row over its tokens after the first, of each window
    over its own tokens (given the text before it): one EL computation per start."""
    out = [0.0] * len(items)
    by_start: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_start[item.start].append(index)
    for start, rows in by_start.items():
        sequences = [list(items[i].ids[: items[i].end]) for i in rows]
        values = el_scores(run.model, sequences, spec.param, start=start,
                           batch_size=run.batch_size)  # fmt: skip
        for row, value in zip(rows, values, strict=True):
            out[row] = value
    return out
