"""bench/seed_claims.py's Markdown tables (`--table`) of the cells present in its folder: mean
and 95% t-interval over the world seeds (imported by it; not run alone)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

METHODS = ("grad_ascent", "sga", "ta", "tau", "icu")


def interval(values: Sequence[float]) -> str:
    """mean [95% t-interval] of the seeds' values."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return f"{mean:.3g}"
    half = stats.t.ppf(0.975, len(values) - 1) * float(np.std(values, ddof=1)) / len(values) ** 0.5
    return f"{mean:.3g} [{mean - half:.3g}, {mean + half:.3g}]"


def shown(values: Sequence[float]) -> str:
    return interval(values) if values else "never"


def table_row(name: str, runs: Sequence[dict]) -> str:
    """One method's row: each figure's mean and interval over the seeds that have it."""
    near = [r["matched"]["line-0.02"] for r in runs if r["matched"]["line-0.02"] is not None]
    far = [r["matched"]["line-0.05"] for r in runs if r["matched"]["line-0.05"] is not None]
    reach = [r["to_line"] for r in runs if r["to_line"]]
    ppl = [r["ppl_after"] / r["ppl_before"] for r in runs]
    return (f"| {name} | {len(runs)} | {shown(near)} | {shown(far)} | "
            f"{shown([t['step'] for t in reach])} | {shown([t['seconds'] for t in reach])} | "
            f"{shown(ppl)} | {shown([r['loss_auc_after'] for r in runs])} "
            f"({shown([r['retain_loss_auc'] for r in runs])}) |")  # fmt: skip


def table(out: Path) -> str:
    cells: dict[str, list[dict]] = {}
    for path in sorted(out.glob("*-seed*.json")):
        cell = json.loads(path.read_text())
        cells.setdefault(cell["method"], []).append(cell)
    rows = ["| method | seeds | c(D_f) at line-0.02 | c(D_f) at line-0.05 | epochs to line | "
            "seconds to line | ppl after / before | loss AUC after (retain) |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in METHODS:
        if cells.get(name):
            rows.append(table_row(name, cells[name]))
    return "\n".join(rows)
