"""A sweep's summary: per (method, settings), each headline figure's mean and spread over the
seeds, and which of them lie on the forget/utility Pareto front.

A cell is one pipeline run: its method, its grid settings, its seed and its headline figures
(keys `report/<variant>/<group>/<metric>`). The forget figure is the unlearned model's c(D_f)
(`report/after/forget/outliers`, lower is better); the utility figure its model utility
(`report/after/model_utility`, higher is better). Spread is the sample standard deviation over
the seeds (0 for one seed).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FORGET = "report/after/forget/outliers"
UTILITY = "report/after/model_utility"
SHOWN = (FORGET, "report/after/forget/extraction_pct", UTILITY,
         "report/after/general_eval/general_ppl_change_pct")  # fmt: skip


@dataclass(frozen=True)
class Cell:
    method: str
    settings: Mapping[str, object]  # dotted key -> value, the grid's
    seed: int
    headline: Mapping[str, float]
    run_id: str = ""  # the cell's MLflow parent run


@dataclass(frozen=True)
class Summary:
    """One (method, settings) over its seeds: mean and spread of each SHOWN figure present."""

    method: str
    settings: str
    seeds: tuple[int, ...]
    mean: dict[str, float]
    spread: dict[str, float]

    @property
    def label(self) -> str:
        return f"{self.method} {self.settings}".strip()


def settings_label(settings: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(settings.items()))


def summarize(cells: Sequence[Cell]) -> list[Summary]:
    """Cells grouped by (method, settings) in their first order, each figure over the seeds."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.method, settings_label(cell.settings)), []).append(cell)
    out = []
    for (method, settings), members in groups.items():
        mean, spread = {}, {}
        for key in SHOWN:
            values = [c.headline[key] for c in members if key in c.headline]
            if values:
                mean[key] = statistics.fmean(values)
                spread[key] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(Summary(method, settings, tuple(c.seed for c in members), mean, spread))
    return out


def pareto_front(summaries: Sequence[Summary]) -> list[bool]:
    """For each summary, whether no other one is at least as good on both the forget figure
    (lower) and utility (higher) and better on one; False where either figure is missing."""
    points = [(s.mean.get(FORGET), s.mean.get(UTILITY)) for s in summaries]

    def dominated(f: float, u: float) -> bool:
        return any(g is not None and v is not None and g <= f and v >= u and (g < f or v > u)
                   for g, v in points)  # fmt: skip

    return [f is not None and u is not None and not dominated(f, u) for f, u in points]


def summary_table(summaries: Sequence[Summary]) -> str:
    """Markdown: a row per (method, settings), `mean ± spread` per figure, the front marked."""
    front = pareto_front(summaries)
    names = [key.removeprefix("report/after/") for key in SHOWN]
    lines = ["| method | settings | seeds | " + " | ".join(names) + " | Pareto |",
             "|" + "---|" * (len(SHOWN) + 4)]  # fmt: skip
    for summary, best in zip(summaries, front, strict=True):
        cells = [f"{summary.mean[k]:.3g} ± {summary.spread[k]:.2g}" if k in summary.mean else "-"
                 for k in SHOWN]  # fmt: skip
        seeds = ",".join(map(str, summary.seeds))
        row = [summary.method, summary.settings or "-", seeds, *cells, "yes" if best else ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
