"""bench/seed_claims.py's Markdown tables (`--table`) of the cells present in its folder: mean
and 95% t-interval over the world seeds (imported by it; not run alone)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats
from seed_probes import at_el

from forgetflow.intervals import wilson

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


def cells_by_method(out: Path) -> dict[str, list[dict]]:
    cells: dict[str, list[dict]] = {}
    for path in sorted(out.glob("*-seed*.json")):
        cell = json.loads(path.read_text())
        if "method" in cell:
            cells.setdefault(cell["method"], []).append(cell)
    return cells


def table(out: Path) -> str:
    """The claims' table, the audit's and ICU's (suffix EL)."""
    cells = cells_by_method(out)
    rows = ["| method | seeds | c(D_f) at line-0.02 | c(D_f) at line-0.05 | epochs to line | "
            "seconds to line | ppl after / before | loss AUC after (retain) |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in METHODS:
        if cells.get(name):
            rows.append(table_row(name, cells[name]))
    return "\n\n".join(["\n".join(rows), audit_table(out), el_table(out), el_pairs_table(out)])


def pooled(shares: Sequence[dict]) -> str:
    """A share pooled over the seeds' cells (k and n summed) with its Wilson interval."""
    k = round(sum(s["value"] * s["n"] for s in shares))
    n = sum(s["n"] for s in shares)
    low, high = wilson(k, n) or (float("nan"), float("nan"))
    return f"{k / n:.2f} [{low:.2f}, {high:.2f}] (n {n})"


def audit_row(name: str, audits: Sequence[dict]) -> str:
    """Shares pooled over the seeds; the AUC's mean and t-interval over them, or with one seed
    the audit's own 95% interval."""
    aucs = [a["mia_auc"]["value"] for a in audits if a["mia_auc"]["value"] is not None]
    auc = shown(aucs)
    if len(aucs) == 1 and audits[0]["mia_auc"].get("low") is not None:
        one = audits[0]["mia_auc"]
        auc = f"{one['value']:.3g} [{one['low']:.3g}, {one['high']:.3g}]"
    return (f"| {name} | {len(audits)} | {pooled([a['forgotten'] for a in audits])} | "
            f"{pooled([a['leak_at_16'] for a in audits])} | {auc} |")  # fmt: skip


def audit_table(out: Path) -> str:
    """The audit's verdicts of each method's unlearned model and of the retain model."""
    cells = cells_by_method(out)
    rows = ["| model | seeds | share forgotten | share leaking at 16 samples | Min-K%++ AUC |",
            "|---|---|---|---|---|"]  # fmt: skip
    for name in METHODS:
        audits = [c["audit"] for c in cells.get(name, []) if c.get("audit")]
        if audits:
            rows.append(audit_row(name, audits))
    retain = [json.loads(p.read_text())["audit"] for p in sorted(out.glob("retain-seed*.json"))]
    if retain:
        rows.append(audit_row("retain model", retain))
    return "\n".join(rows)


def el_table(out: Path) -> str:
    """ICU's claim: perplexity (after / before) and model utility where GA's and ICU's suffix
    EL_10 first falls halfway to the retain model's, and to the retain model's."""
    cells = cells_by_method(out)
    rows = ["| method | seeds | ppl ratio, EL halfway | ppl ratio, EL of retain | "
            "utility, EL halfway | utility, EL of retain | utility before |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("grad_ascent", "icu"):
        runs = [c for c in cells.get(name, []) if c.get("at_el")]
        if not runs:
            continue
        reached = {k: [(r["at_el"][k], r["track"][0]) for r in runs if r["at_el"][k]]
                   for k in ("halfway", "retain")}  # fmt: skip
        ppl = {k: shown([a["ppl"] / b["ppl"] for a, b in v]) for k, v in reached.items()}
        util = {k: shown([a["utility"] for a, _ in v]) for k, v in reached.items()}
        before = shown([r["track"][0]["utility"] for r in runs])
        rows.append(f"| {name} | {len(runs)} | {ppl['halfway']} | {ppl['retain']} | "
                    f"{util['halfway']} | {util['retain']} | {before} |")  # fmt: skip
    return "\n".join(rows)


def el_pairs_table(out: Path) -> str:
    """Per world seed, GA against ICU at ICU's last suffix EL_10 (ICU does not reach the retain
    model's): perplexity ratio and model utility of each there."""
    cells = {(c["method"], c["seed"]): c for runs in cells_by_method(out).values() for c in runs}
    rows = ["| world seed | ICU's last EL | ppl ratio GA / ICU | utility GA / ICU |",
            "|---|---|---|---|"]  # fmt: skip
    for (name, seed), icu in sorted(cells.items(), key=lambda kv: kv[0][1]):
        ga = cells.get(("grad_ascent", seed))
        if name != "icu" or not icu.get("track") or not (ga and ga.get("track")):
            continue
        last, first = icu["track"][-1], icu["track"][0]
        at = at_el(ga["track"], last["suffix_el"])
        if at is None:
            continue
        rows.append(f"| {seed} | {last['suffix_el']:.3f} | {at['ppl'] / first['ppl']:.3f} / "
                    f"{last['ppl'] / first['ppl']:.3f} | {at['utility']:.3f} / "
                    f"{last['utility']:.3f} |")  # fmt: skip
    return "\n".join(rows)
