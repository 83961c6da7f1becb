"""The pipeline report: one Markdown page of the stages' figures, a column per model variant."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pyarrow as pa

from forgetflow.memorization.thresholds import Thresholds
from forgetflow.records import Figure
from forgetflow.report.audit_section import audit_section

BEFORE, AFTER = "before", "after"


@dataclass(frozen=True)
class ReportInputs:
    title: str
    facts: Mapping[str, str]  # what ran: model, data, method, seed, commit ...
    figures: Sequence[Figure]  # every stage's, in the order the stages reported them
    twins: pa.Table | None  # None: the anti-sample stage was off
    steps: int  # optimizer steps the unlearning ran
    outlier_metric: str = "ma"
    thresholds: Thresholds = Thresholds()
    stop_metrics: tuple[str, ...] = ()  # what the loop's aggregate stop judged by


def table(header: Sequence[str], rows: list[tuple[object, ...]]) -> str:
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def figure_table(figures: Sequence[Figure]) -> str:
    """Rows (group, metric) in the order reported, a column per variant (before and after
    first); `change` is after minus before where both exist."""
    order = {BEFORE: 0, AFTER: 1}  # then the others as reported (stable sort)
    variants = sorted(dict.fromkeys(f.variant for f in figures), key=lambda v: order.get(v, 2))
    cells: dict[tuple[str, str], dict[str, Figure]] = {}
    for f in figures:
        cells.setdefault((f.group, f.metric), {})[f.variant] = f
    with_change = BEFORE in variants and AFTER in variants
    header = ["group", "figure", "n", *variants] + (["change"] if with_change else [])
    rows = []
    for (group, metric), by_variant in cells.items():
        n = max(f.n for f in by_variant.values())
        row: list[object] = [group or "-", metric, n or "-"]
        row += [by_variant[v].value if v in by_variant else "-" for v in variants]
        if with_change:
            both = BEFORE in by_variant and AFTER in by_variant
            row.append(by_variant[AFTER].value - by_variant[BEFORE].value if both else "-")
        rows.append(tuple(row))
    return table(header, rows)


def of_stage(figures: Sequence[Figure], stage: str) -> list[Figure]:
    return [f for f in figures if f.stage == stage]


def find(
    figures: Sequence[Figure], stage: str, metric: str, variant: str, group: str
) -> Figure | None:
    for f in figures:
        if (f.stage, f.metric, f.variant, f.group) == (stage, metric, variant, group):
            return f
    return None


def headline(figures: Sequence[Figure]) -> list[Figure]:
    """The figures the acceptance of an unlearning run rests on: extraction (in %) on each
    split's most-exposed bucket for every variant and its drop after unlearning (in points);
    utility on data no method trains on: the change of general-text perplexity (in %), model
    utility of every variant, and the unlearned model's forget quality against the retain
    model. Retain perplexity is never utility: methods descend on the retain rows. First, c(D_f):
    the forget samples beyond the outlier line before and after unlearning, and the retain
    model's under the same line (what a model that never saw them leaves)."""
    out = [replace(f, stage="report") for f in figures
           if (f.stage, f.metric, f.group) == ("memorization", "outliers", "forget")]  # fmt: skip
    for top in (f for f in figures if f.stage == "audit" and f.metric == "extraction_top"):
        out.append(Figure("report", "extraction_pct", top.variant, top.group, 100 * top.value,
                          False, top.n))  # fmt: skip
        before = find(figures, "audit", "extraction_top", BEFORE, top.group)
        if top.variant == AFTER and before is not None:
            drop = 100 * (before.value - top.value)
            out.append(Figure("report", "extraction_drop_points", AFTER, top.group, drop, True,
                              top.n))  # fmt: skip
    before = find(figures, "utility", "general_ppl", BEFORE, "general_eval")
    after = find(figures, "utility", "general_ppl", AFTER, "general_eval")
    if before is not None and after is not None:
        change = 100 * (after.value / before.value - 1)
        out.append(Figure("report", "general_ppl_change_pct", AFTER, "general_eval", change,
                          False, after.n))  # fmt: skip
    for f in figures:
        if f.stage == "utility" and (f.metric == "model_utility" or (
                f.metric == "forget_quality" and f.variant == AFTER)):  # fmt: skip
            out.append(replace(f, stage="report"))
    return out


def memorization_section(report: ReportInputs) -> str:
    """The ledger's figures before and after, judged by one threshold (calibrated before)."""
    said = report.thresholds.describe(report.outlier_metric, report.stop_metrics)
    rules = "\n".join(f"- {line}" for line in said)
    body = figure_table(of_stage(report.figures, "memorization"))
    return "Thresholds:\n\n" + rules + "\n\n" + body


def antisamples_section(twins: pa.Table | None) -> str:
    if twins is None:
        return ("not applicable: no falsified twins (`antisamples.builders` holds no "
                "`falsified`): the method trained without them (UnSTAR's anti-samples, where it "
                "ran, are counted with its rounds)")  # fmt: skip
    counts = sorted(Counter(twins["backend"].to_pylist()).items())
    return f"{twins.num_rows} falsified twins:\n\n" + table(("backend", "twins"), counts)


def section(figures: Sequence[Figure], stage: str, empty: str) -> str:
    found = of_stage(figures, stage)
    return figure_table(found) if found else f"not applicable: {empty}"


def cost_section(figures: Sequence[Figure]) -> str:
    """Each stage's wall-clock seconds (the pipeline's `cost` figures) and their total."""
    rows = [(f.group, f.value) for f in of_stage(figures, "cost")]
    if not rows:
        return "not applicable: no stage was timed"
    return table(("stage", "seconds"), [*rows, ("total", sum(v for _, v in rows))])


@dataclass(frozen=True)
class Section:
    """One part of the report: its key (where the HTML report puts its plots), heading (None:
    the title block) and Markdown body."""

    key: str
    heading: str | None
    body: str


def report_sections(report: ReportInputs) -> list[Section]:
    """The report's parts in order; the Markdown and the HTML report render the same ones."""
    figures = report.figures
    variants = ", ".join(dict.fromkeys(f.variant for f in figures if f.stage == "audit"))
    unlearning = f"Steps: {report.steps}. Figures at the last step:\n\n" + section(
        figures, "unlearning", "the loop logged no figure")  # fmt: skip
    return [
        Section("settings", None, table(("setting", "value"), list(report.facts.items()))),
        Section(
            "headline",
            "Headline (extraction on each split's most-exposed bucket when exposures are known)",
            section(headline(figures), "report", "no extraction audit ran"),
        ),  # fmt: skip
        Section("memorization", "1. Memorization scoring", memorization_section(report)),
        Section("antisamples", "2. Anti-samples", antisamples_section(report.twins)),
        Section("unlearning", "3. Unlearning", unlearning),
        Section("audit", f"4. Audit (variants: {variants})", audit_section(figures)),
        Section(
            "utility",
            "5. Utility (on data no method trains on)",
            section(figures, "utility", "no utility was measured"),
        ),  # fmt: skip
        Section(
            "cost", "6. Cost (wall-clock seconds per stage, this machine)", cost_section(figures)
        ),  # fmt: skip
    ]


def render_report(report: ReportInputs) -> str:
    parts = [f"# {report.title}"]
    for part in report_sections(report):
        parts += ([f"## {part.heading}"] if part.heading else []) + [part.body]
    return "\n\n".join(parts) + "\n"
