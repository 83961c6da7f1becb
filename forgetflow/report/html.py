"""The self-contained HTML report: the Markdown report's sections with their plots (PNG inside
the page), a facts section and a per-sample section.

Redacted by default: a sample is its id, the sha256[:12] of its text and its length in tokens; a
facts run's questions, answers and rationales are counted, never shown, and a leak reason names
its rule, never the answer it found. `show_samples` adds the texts.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import markdown
import pyarrow as pa
from matplotlib.figure import Figure as Plot

from forgetflow.memorization.ledger import values_at
from forgetflow.records import Figure
from forgetflow.redact import text_digest
from forgetflow.report import plots
from forgetflow.report.markdown import ReportInputs, Section, of_stage, report_sections, table

DESIGNATED_ATTACKS = ("min_kpp_20", "reference")  # the verdicts' membership attack, in order
RELEARN_METRIC = "extraction_greedy"  # the relearning curve's figure on half B
STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}td,th{border:1px solid #ccc;
padding:2px 6px;text-align:right}th{background:#f3f3f3}img{max-width:100%}
.na{color:#666;font-style:italic}section{border-top:1px solid #ddd;margin-top:1.5em}"""


@dataclass(frozen=True)
class ReportTables:
    """The per-sample tables the plots and the sample section read; None: not produced."""

    ledger_before: pa.Table | None = None  # the scoring ledger (step 0)
    ledger_after: pa.Table | None = None  # the unlearning ledger (its last step: after)
    ledger_retain: pa.Table | None = None  # the retain model scored on the forget set
    training_log: pa.Table | None = None
    stopped_by: str | None = None
    membership: pa.Table | None = None
    audit_samples: pa.Table | None = None
    verdicts: pa.Table | None = None
    rounds: pa.Table | None = None  # UnSTAR's rounds (a facts run)
    forget: pa.Table | None = None  # the forget split's samples (id, text)
    tokens: Mapping[str, int] = field(default_factory=dict)  # each forget sample's length
    threshold: float | None = None  # the outlier line on the outlier metric


@dataclass(frozen=True)
class Shown:
    """A plot in the page: its caption and the figure, or the reason it is not applicable."""

    caption: str
    plot: Plot | None
    absent: str = ""


def shown(caption: str, plot: Plot | None, absent: str) -> Shown:
    return Shown(caption, plot, "" if plot is not None else absent)


def image(one: Shown) -> str:
    """The plot as an inline PNG with its caption, or the "not applicable" line."""
    if one.plot is None:
        return f'<p class="na">{html.escape(one.caption)}: not applicable: {one.absent}</p>'
    data = base64.b64encode(plots.png_bytes(one.plot)).decode()
    return (f'<figure><img alt="{html.escape(one.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(one.caption)}</figcaption></figure>")  # fmt: skip


def memorization_plots(report: ReportInputs, tables: ReportTables) -> list[Shown]:
    metric = report.outlier_metric
    histograms = None if tables.ledger_before is None else plots.memorization_histograms(
        tables.ledger_before, tables.ledger_after, tables.ledger_retain, metric,
        tables.threshold)  # fmt: skip
    verdicts = None if tables.verdicts is None else plots.verdict_counts(tables.verdicts)
    return [
        shown(
            f"per-sample {metric} on the forget set: before, after, the retain model",
            histograms,
            f"no forget {metric} was scored",
        ),  # fmt: skip
        shown(
            "verdict counts per variant",
            verdicts,
            "the designated attack (reference or min_kpp_20) did not run",
        ),  # fmt: skip
    ]


def unlearning_plots(tables: ReportTables) -> list[Shown]:
    curves = None if tables.training_log is None else plots.training_curves(
        tables.training_log, tables.stopped_by)  # fmt: skip
    return [shown("per-step curves, forget and utility (the stop marked)", curves,
                  "the loop logged no step")]  # fmt: skip


def roc(membership: pa.Table | None) -> tuple[str, Plot | None]:
    """The ROC curves of the verdicts' membership attack (else the first one present)."""
    if membership is None:
        return "ROC curves", None
    present = plots.roc_attacks(membership)
    attack = next((a for a in DESIGNATED_ATTACKS if a in present), present[0] if present else "")
    return f"ROC curves, {attack}, forget vs holdout", plots.roc_curves(membership, attack=attack)


def relearning_points(figures: Sequence[Figure]) -> list[tuple[str, int, float]]:
    """(family, relearning steps, value) of RELEARN_METRIC on half B: after and the retain model
    at 0 steps and after each relearning stress."""
    out = []
    for f in figures:
        if f.stage != "audit" or f.metric != RELEARN_METRIC or f.group != "forget_half_b":
            continue
        family, _, stress = f.variant.partition(".")
        if not stress:
            out.append((family, 0, f.value))
        elif stress.startswith("relearn_") and stress.removeprefix("relearn_").isdigit():
            out.append((family, int(stress.removeprefix("relearn_")), f.value))
    return out


def audit_plots(report: ReportInputs, tables: ReportTables) -> list[Shown]:
    caption, curves = roc(tables.membership)
    samples = tables.audit_samples
    leaks = None if samples is None else plots.leak_at_k(samples)
    relearned = plots.relearning_curve(relearning_points(report.figures), RELEARN_METRIC)
    return [
        shown(caption, curves, "no membership attack ran"),
        shown("leak@k on the forget set", leaks, "no sampled extraction attack ran"),
        shown("relearning curve (half B)", relearned, "no relearning stress ran"),
    ]


def cost_plots(report: ReportInputs) -> list[Shown]:
    seconds = [(f.group, f.value) for f in of_stage(report.figures, "cost")]
    return [shown("wall-clock seconds per stage", plots.stage_seconds(seconds), "not measured")]


def rejected_reasons(rounds: pa.Table) -> str:
    """Rejected anti-samples per target and leak rule (the rule only, never the answer)."""
    rows = rounds.to_pylist()
    counts = Counter((r["target_id"], r["leak_reason"].split(":", 1)[0]) for r in rows
                     if r["falsified"] and not r["accepted"])  # fmt: skip
    accepted = Counter(r["target_id"] for r in rows if r["accepted"])
    targets = sorted({r["target_id"] for r in rows})
    body = [(t, max((r["round"] for r in rows if r["target_id"] == t), default=0), accepted[t],
             ", ".join(f"{rule or 'unstated'}: {n}" for (target, rule), n in sorted(counts.items())
                       if target == t) or "none") for t in targets]  # fmt: skip
    return table(("target", "rounds", "accepted", "rejected (leak rule: count)"), body)


def facts_section(tables: ReportTables, show_samples: bool) -> tuple[str, list[Shown]]:
    """Per target: rounds, anti-samples accepted and rejected with their leak rule; the
    targeted and keep-probe accuracy is in the audit section."""
    rounds = tables.rounds
    if rounds is None or rounds.num_rows == 0:
        return "not applicable: not a facts request (no UnSTAR rounds)", []
    body = rejected_reasons(rounds)
    if show_samples:
        shown_rows = [(r["round"], r["target_id"], r["variant"], r["question"], r["falsified"],
                       r["rationale"], r["accepted"], r["leak_reason"] or "-")
                      for r in rounds.to_pylist() if r["falsified"]]  # fmt: skip
        body += "\n\nAnti-samples (shown: --show-samples):\n\n" + table(
            ("round", "target", "type", "question", "falsified", "rationale", "accepted",
             "leak"), shown_rows)  # fmt: skip
    plot = plots.facts_rounds(rounds)
    return body, [shown("per target and round: still answered, accepted, rejected", plot,
                        "no round was recorded")]  # fmt: skip


def latest_values(ledger: pa.Table | None, metric: str) -> dict[str, float]:
    if ledger is None or ledger.num_rows == 0:
        return {}
    return values_at(ledger, "forget", metric, max(ledger["step"].to_pylist()))


def sample_columns(tables: ReportTables, metric: str) -> dict[str, list]:
    """One entry per forget sample, by column: id, sha256[:12] of its text, tokens, `metric`
    before / after / under the retain model and after's verdict (None where not measured);
    never the text."""
    forget = [] if tables.forget is None else tables.forget.to_pylist()
    before, after, gold = (latest_values(t, metric) for t in (
        tables.ledger_before, tables.ledger_after, tables.ledger_retain))  # fmt: skip
    verdict = {} if tables.verdicts is None else {
        r["sample_id"]: r["verdict"] for r in tables.verdicts.to_pylist() if r["variant"] == "after"
    }  # fmt: skip
    ids = [r["sample_id"] for r in forget]
    return {"sample_id": ids, "sha256_12": [text_digest(r["text"]) for r in forget],
            "tokens": [tables.tokens.get(i) for i in ids],
            f"{metric}_before": [before.get(i) for i in ids],
            f"{metric}_after": [after.get(i) for i in ids],
            f"{metric}_retain_model": [gold.get(i) for i in ids],
            "verdict_after": [verdict.get(i) for i in ids]}  # fmt: skip


def samples_section(report: ReportInputs, tables: ReportTables, show_samples: bool) -> str:
    """One row per forget sample (`sample_columns`); its text with `show_samples`."""
    if tables.forget is None or tables.forget.num_rows == 0:
        return "not applicable: no forget samples were given"
    metric = report.outlier_metric
    columns = sample_columns(tables, metric)
    header = ["sample", "sha256[:12]", "tokens", f"{metric} before", f"{metric} after",
              f"{metric} retain model", "verdict after"]  # fmt: skip
    entries = zip(*columns.values(), strict=True)
    rows = [tuple("-" if v is None else v for v in row) for row in entries]
    if show_samples:
        header.append("text")
        texts = [t.replace("\n", " / ") for t in tables.forget.column("text").to_pylist()]
        rows = [(*row, text) for row, text in zip(rows, texts, strict=True)]
    return table(header, rows)


def html_section(part: Section, extra: Sequence[Shown] = ()) -> str:
    heading = f"<h2>{html.escape(part.heading)}</h2>" if part.heading else ""
    body = markdown.markdown(html.escape(part.body, quote=False), extensions=["tables"])
    return f'<section id="{part.key}">{heading}{body}{"".join(image(s) for s in extra)}</section>'


def section_plots(report: ReportInputs, tables: ReportTables) -> dict[str, list[Shown]]:
    """The plots of each section that has plots, by section key."""
    return {"memorization": memorization_plots(report, tables),
            "unlearning": unlearning_plots(tables), "audit": audit_plots(report, tables),
            "cost": cost_plots(report)}  # fmt: skip


def render_html(
    report: ReportInputs, tables: ReportTables, show_samples: bool = False,
    made: Mapping[str, list[Shown]] | None = None,
) -> str:  # fmt: skip
    """The whole page (`made`: the section plots, when already drawn); every section holds a
    table, a plot or a "not applicable" line."""
    made = section_plots(report, tables) if made is None else made
    parts = [html_section(p, made.get(p.key, [])) for p in report_sections(report)]
    facts_body, facts_plots = facts_section(tables, show_samples)
    parts.append(html_section(Section("facts", "7. Facts: UnSTAR's rounds per target",
                                      facts_body), facts_plots))  # fmt: skip
    said = "texts shown (--show-samples)" if show_samples else "redacted: id, sha256[:12], tokens"
    parts.append(html_section(Section("samples", f"8. Forget samples ({said})",
                                      samples_section(report, tables, show_samples))))  # fmt: skip
    title = html.escape(report.title)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>{''.join(parts)}</body></html>\n"
    )
