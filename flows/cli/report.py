"""`forgetflow report RUN`: a pipeline run's HTML report rendered again from its stored tables,
redacted, or with `--show-samples` the forget samples' texts."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.errors import fail


class ReportLookupError(ValueError):
    """The run named is not a pipeline run with a report in this home's MLflow."""


def report_dir(tracking_uri: str, run_id: str, scratch: Path) -> Path:
    """The report folder of pipeline run `run_id` (its write_report child's `report` ref)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from storage.tracking import read_ref, stage_child

    client = MlflowClient(tracking_uri)
    try:
        child = stage_child(client, run_id, "write_report")
    except MlflowException as err:
        raise ReportLookupError(
            f"run {run_id!r} is not in {tracking_uri}: give the run id `forgetflow run` "
            "printed, or the right --home"
        ) from err
    if child is None:
        raise ReportLookupError(f"run {run_id!r} has no write_report stage: it is not a "
                                "pipeline run, or it failed before its report")  # fmt: skip
    return read_ref(client, child.info.run_id, "report", scratch).path


def report(
    run: Annotated[str, typer.Argument(help="the pipeline's MLflow run id")],
    home: Annotated[str | None, typer.Option(help="forgetflow's folder")] = None,
    out: Annotated[
        Path | None, typer.Option(help="where to write the page; default: report-<run>.html here")
    ] = None,  # fmt: skip
    show_samples: Annotated[bool, typer.Option(help="show the forget samples' texts")] = False,
) -> None:
    """Render a pipeline run's HTML report again (redacted unless --show-samples)."""
    from forgetflow.atomic import write_text
    from forgetflow.paths import resolve_paths
    from storage.artifacts import ArtifactStore
    from storage.tracking import default_tracking_uri
    from tasks.write_report import render_saved

    paths = resolve_paths(home)
    target = out or Path(f"report-{run[:12]}.html")
    with tempfile.TemporaryDirectory() as scratch:
        try:
            folder = report_dir(default_tracking_uri(paths.mlflow_db), run, Path(scratch))
        except ReportLookupError as err:
            fail(err)
    page = render_saved(ArtifactStore(paths.artifacts), folder, show_samples)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, page)  # whole or not at all
    typer.echo(f"report: {target}")
