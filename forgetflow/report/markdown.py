"""The pipeline report: one Markdown page with a before/after table for every stage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from forgetflow.audit.extraction import extraction_summary, top_bucket
from forgetflow.memorization import ledger as ledger_mod
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.utility.perplexity import utility_summary


@dataclass(frozen=True)
class ReportInputs:
    title: str
    facts: Mapping[str, str]  # what ran: model, data, method, seed, commit ...
    ledger: pa.Table
    twins: pa.Table | None  # None: the anti-sample stage was off
    training_log: pa.Table
    extraction: pa.Table
    utility: pa.Table
    outlier_metric: str = "ma"
    thresholds: Thresholds = Thresholds()
    stop_metrics: tuple[str, ...] = ()  # what the loop's aggregate stop judged by


def table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def before_after(summary: Mapping[str, float], names: list[str], scale: float = 1.0) -> list:
    rows = []
    for name in names:
        before, after = summary.get(f"before_{name}"), summary.get(f"after_{name}")
        if before is None or after is None:
            continue
        rows.append((name, before * scale, after * scale, (after - before) * scale))
    return rows


def headline(report: ReportInputs) -> dict[str, float]:
    """The figures the acceptance of an unlearning run rests on (extraction in points)."""
    ext = extraction_summary(report.extraction)
    util = utility_summary(report.utility)
    out = {}
    for split in ("forget", "retain"):
        group = top_bucket(report.extraction, split)
        out[f"{split}_extraction_before_pct"] = 100 * ext[f"before_{group}_extraction"]
        out[f"{split}_extraction_drop_points"] = 100 * (
            ext[f"before_{group}_extraction"] - ext[f"after_{group}_extraction"]
        )
    if "before_retain_perplexity" in util:
        before, after = util["before_retain_perplexity"], util["after_retain_perplexity"]
        out["retain_perplexity_change_pct"] = 100 * (after / before - 1)
    return out


def group_order(group: str) -> tuple[str, int]:
    """forget, forget_r1, forget_r2 ... forget_r32, holdout ...: splits, then buckets by r."""
    split, _, bucket = group.partition("_r")
    return (split, int(bucket) if bucket.isdigit() else -1)


def memorization_section(report: ReportInputs) -> str:
    """The ledger's figures before and after, judged by one threshold (calibrated before)."""
    ledger, metric, rule = report.ledger, report.outlier_metric, report.thresholds.outliers
    steps = ledger_mod.steps(ledger)
    first = ledger_mod.summary(ledger, steps[0], metric, rule)
    last = ledger_mod.summary(ledger, steps[-1], metric, rule)
    shown = [k for k in first if not re.search(r"_p\d+$", k)]  # the quantiles go to MLflow
    rows = [(k, first[k], last.get(k, float("nan"))) for k in shown]
    said = report.thresholds.describe(metric, report.stop_metrics)
    rules = "\n".join(f"- {line}" for line in said)
    header = ("figure", f"step {steps[0]} (before)", f"step {steps[-1]} (after)")
    return "Thresholds:\n\n" + rules + "\n\n" + table(header, rows)


def training_section(log: pa.Table) -> str:
    final_step = max(log["step"].to_pylist())
    rows = [(r["name"], r["value"]) for r in log.to_pylist() if r["step"] == final_step]
    return f"Steps: {final_step}. Figures at the last step:\n\n" + table(("figure", "value"), rows)


def antisamples_section(twins: pa.Table | None) -> str:
    if twins is None:
        return "Off (`antisamples.builders: []`): the method trained without anti-samples."
    backends = sorted(set(twins["backend"].to_pylist()))
    return f"{twins.num_rows} falsified twins from backend(s): {', '.join(backends)}."


def render_report(report: ReportInputs) -> str:
    ext = extraction_summary(report.extraction)
    groups = {k.split("_", 1)[1].rsplit("_", 1)[0] for k in ext if k.endswith("_extraction")}
    splits = sorted(groups, key=group_order)
    ext_rows = before_after(ext, [f"{s}_extraction" for s in splits], 100.0)
    ext_rows += before_after(ext, [f"{s}_token_match" for s in splits], 100.0)
    util = utility_summary(report.utility)
    util_splits = sorted({s for s in report.utility["split"].to_pylist()})
    util_rows = before_after(util, [f"{s}_perplexity" for s in util_splits])
    parts = [
        f"# {report.title}",
        table(("setting", "value"), list(report.facts.items())),
        "## Headline (extraction on each split's most-exposed bucket when exposures are known)",
        table(("figure", "value"), list(headline(report).items())),
        "## 1. Memorization scoring",
        memorization_section(report),
        "## 2. Anti-samples",
        antisamples_section(report.twins),
        "## 3. Unlearning",
        training_section(report.training_log),
        "## 4. Extraction audit (greedy prefix -> suffix, % of samples / tokens)",
        table(("figure", "before", "after", "change"), ext_rows),
        "## 5. Utility (perplexity)",
        table(("figure", "before", "after", "change"), util_rows),
    ]
    return "\n\n".join(parts) + "\n"
