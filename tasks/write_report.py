"""Stage 6: the Markdown report, stored as an artifact and logged to MLflow."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.memorization.thresholds import Thresholds
from forgetflow.records import Figure
from forgetflow.report.markdown import ReportInputs, headline, render_report
from storage.artifacts import ArtifactRef
from tasks.context import StageContext


@task(name="write_report", cache_policy=NO_CACHE)
def write_report(
    ctx: StageContext, title: str, facts: dict[str, str], twins: ArtifactRef | None,
    figures: list[Figure], steps: int, outlier_metric: str, thresholds: Thresholds,
    stop_metrics: tuple[str, ...],
) -> tuple[ArtifactRef, list[Figure]]:  # fmt: skip
    """The report of the stages' `figures`; returns it and its headline figures."""
    store = ctx.store
    with ctx.tracker().stage_run("write_report", ctx.parent_run_id) as run:
        twins_table = store.get_table(twins) if twins else None
        inputs = ReportInputs(title, facts, figures, twins_table, steps, outlier_metric,
                              thresholds, stop_metrics)  # fmt: skip
        staged = store.stage_dir()
        (staged / "report.md").write_text(render_report(inputs))
        ref = store.put_dir(staged, "report")
        top = headline(figures)
        run.log_figures(top)
        cost = [f for f in figures if f.stage == "cost"]  # seconds per stage
        ctx.tracker().handle(ctx.parent_run_id).log_figures([*top, *cost])
        run.log_file(ref.path / "report.md")
        run.log_ref("report", ref)
        return ref, top
