"""Stage 6: the report, Markdown and self-contained HTML with its plots, stored as an artifact
and logged to MLflow with a redacted per-sample table; `report_inputs.json` beside them lets
`forgetflow report RUN` render it again (with `--show-samples`, the texts)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.lm.tokens import encode
from forgetflow.memorization.ledger import outliers
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.models.io import load_tokenizer
from forgetflow.records import Figure
from forgetflow.report.html import ReportTables, render_html, sample_columns, section_plots
from forgetflow.report.markdown import ReportInputs, headline, render_report
from storage.artifacts import ArtifactRef, ArtifactStore
from storage.tracking import RunHandle
from tasks.context import StageContext
from tasks.reuse import reused_or_run

SAVED = "report_inputs.json"
REGISTERED = "registered model"  # the fact naming the model registry's version of this run
TABLE_ROLES = ("ledger_before", "ledger_after", "ledger_retain", "training_log", "membership",
               "audit_samples", "verdicts", "rounds", "forget")  # fmt: skip


@dataclass(frozen=True)
class ReportRequest:
    """What the report is made of: the stages' figures and the refs of their tables."""

    title: str
    facts: dict[str, str]
    figures: list[Figure]
    steps: int
    outlier_metric: str
    thresholds: Thresholds
    stop_metrics: tuple[str, ...]
    model: ArtifactRef  # the target model (its tokenizer counts a sample's tokens)
    twins: ArtifactRef | None = None
    tables: dict[str, ArtifactRef] = field(default_factory=dict)  # by TABLE_ROLES
    stopped_by: str = ""

    def to_json(self) -> str:
        payload = {**asdict(self), "thresholds": self.thresholds.model_dump(mode="json")}
        return json.dumps(payload, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ReportRequest:
        raw = json.loads(text)
        tables = {role: ArtifactRef(**ref) for role, ref in raw.pop("tables").items()}
        twins = raw.pop("twins")
        return cls(**raw | {
            "figures": [Figure(**f) for f in raw["figures"]], "tables": tables,
            "thresholds": Thresholds.model_validate(raw["thresholds"]),
            "stop_metrics": tuple(raw["stop_metrics"]), "model": ArtifactRef(**raw["model"]),
            "twins": ArtifactRef(**twins) if twins else None,
        })  # fmt: skip


def token_counts(
    store: ArtifactStore, request: ReportRequest, forget: pa.Table | None
) -> dict[str, int]:
    """Each forget sample's length in the target model's tokens."""
    if forget is None:
        return {}
    tokenizer = load_tokenizer(store.get_dir(request.model))
    texts = forget.column("text").to_pylist()
    ids = forget.column("sample_id").to_pylist()
    return {sid: len(one) for sid, one in zip(ids, encode(tokenizer, texts), strict=True)}


def loaded(store: ArtifactStore, request: ReportRequest) -> tuple[ReportInputs, ReportTables]:
    """The report's inputs and tables read back from the store."""
    got = {role: store.get_table(ref) for role, ref in request.tables.items()}
    before = got.get("ledger_before")
    line = None
    if before is not None and request.outlier_metric in before["metric"].to_pylist():
        line = outliers(before, 0, request.outlier_metric, request.thresholds.outliers).threshold
    inputs = ReportInputs(request.title, request.facts, request.figures,
                          store.get_table(request.twins) if request.twins else None,
                          request.steps, request.outlier_metric, request.thresholds,
                          request.stop_metrics)  # fmt: skip
    tables = ReportTables(**{role: got.get(role) for role in TABLE_ROLES},
                          stopped_by=request.stopped_by or None, threshold=line,
                          tokens=token_counts(store, request, got.get("forget")))  # fmt: skip
    return inputs, tables


def write_report_work(
    ctx: StageContext,
    run: RunHandle,
    request: ReportRequest,
    show_samples: bool = False,
) -> tuple[ArtifactRef, list[Figure]]:
    """The stage's work in its child run `run` (see write_report)."""
    store = ctx.store
    inputs, tables = loaded(store, request)
    staged = store.stage_dir()
    (staged / "report.md").write_text(render_report(inputs))
    made = section_plots(inputs, tables)
    (staged / "report.html").write_text(render_html(inputs, tables, show_samples, made))
    (staged / SAVED).write_text(request.to_json())
    ref = store.put_dir(staged, "report")
    top = headline(request.figures)
    run.log_figures(top)
    for name in ("report.md", "report.html"):
        run.log_file(ref.path / name)
    for section, shown in made.items():  # the plots, one PNG each
        for k, one in enumerate(s for s in shown if s.plot is not None):
            run.log_plot(one.plot, f"plots/{section}/{k}.png")
    if tables.forget is not None:
        run.log_table(sample_columns(tables, request.outlier_metric), "samples.json")
    run.log_ref("report", ref)
    return ref, top


@task(name="write_report", cache_policy=NO_CACHE)
def write_report(
    ctx: StageContext, request: ReportRequest, show_samples: bool = False
) -> tuple[ArtifactRef, list[Figure]]:  # fmt: skip
    """The report of the stages' figures and tables; returns it and its headline figures. The
    report is reused where only this run's seconds and registered version differ (it then
    shows those of the run that wrote it); the parent run gets the pages, the headline and this
    run's seconds either way."""
    keyed = replace(request, figures=[f for f in request.figures if f.stage != "cost"],
                    facts={k: v for k, v in request.facts.items() if k != REGISTERED})  # fmt: skip
    parts = {"request": keyed, "show_samples": show_samples}
    ref, top = reused_or_run(
        ctx,
        "write_report",
        parts,
        lambda run: write_report_work(ctx, run, request, show_samples),
        lambda done: done[1],
    )
    parent = ctx.tracker().handle(ctx.parent_run_id)
    parent.log_figures([*top, *(f for f in request.figures if f.stage == "cost")])
    for name in ("report.md", "report.html"):
        parent.log_file(ref.path / name)
    return ref, top


def render_saved(store: ArtifactStore, report_dir: Path, show_samples: bool) -> str:
    """The HTML report of a stored report folder, rendered again."""
    request = ReportRequest.from_json((report_dir / SAVED).read_text())
    inputs, tables = loaded(store, request)
    return render_html(inputs, tables, show_samples)
