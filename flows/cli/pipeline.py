"""`forgetflow run`, `demo` and `serve`: the pipeline from a config, a preset or a deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from flows.cli.errors import fail
from flows.environment import configure_environment
from flows.params import ConfigFileError, PipelineConfig, load_config, missing_inputs
from forgetflow.paths import resolve_paths

console = Console()


def execute(config: PipelineConfig) -> None:
    """Run the pipeline in Prefect's ephemeral mode and print where everything landed."""
    configure_environment(resolve_paths(config.home))
    from flows.unlearning_pipeline import unlearning_pipeline  # after the environment is set
    from forgetflow.antisamples.unstar.round_zero import RoundZeroError
    from forgetflow.antisamples.unstar.template_writers import TemplateError
    from forgetflow.antisamples.unstar.writers import WriterError
    from forgetflow.data.loaders import DataInputError
    from forgetflow.generation.base import PositionLimitError
    from forgetflow.memorization.windows import WindowingError
    from forgetflow.models.io import ModelLoadError
    from forgetflow.scenarios.quiz_facts.facts import ProbeSelectionError
    from forgetflow.scenarios.world.fact_draw import DrawError
    from forgetflow.unlearning.procedure import ProcedureError

    user_errors = (DataInputError, ModelLoadError, WindowingError, DrawError, ProcedureError,
                   TemplateError, WriterError, PositionLimitError,
                   ProbeSelectionError, RoundZeroError)  # fmt: skip
    try:
        result = unlearning_pipeline(config)
    except user_errors as err:
        fail(err)
    table = Table("figure", "value", title="headline")
    for key, value in sorted(result.headline.items()):
        table.add_row(key, f"{value:.2f}")
    console.print(table)
    for line in result.verdicts or ("model verdict: not judged (see the report)",):
        console.print(line, soft_wrap=True, markup=False)
    console.print(f"report:         {result.report}", soft_wrap=True)
    console.print(f"html report:    {Path(result.report).with_suffix('.html')}", soft_wrap=True)
    console.print(f"mlflow:         {result.tracking_uri}  (run {result.parent_run_id})",
                  soft_wrap=True)  # fmt: skip
    if result.tracking_uri.startswith(("sqlite:", "file:")):  # a server's URI is its UI
        console.print(f"mlflow ui:      mlflow ui --backend-store-uri {result.tracking_uri}",
                      soft_wrap=True, markup=False)  # fmt: skip
        console.print(f"mlflow page:    {run_page(result)}", soft_wrap=True, markup=False)
    console.print(f"artifacts:      {result.artifacts}", soft_wrap=True)


def run_page(result) -> str:  # noqa: ANN001
    """The run's page in `mlflow ui` (port 5000), in the model-training view: MLflow 3.17's UI
    takes the view from the URL (else the browser's last choice, GenAI at first)."""
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(result.tracking_uri).get_run(result.parent_run_id).info.experiment_id
    return (f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{result.parent_run_id}"
            "?workflowType=machine_learning")  # fmt: skip


def run(
    config: Annotated[Path, typer.Option("--config", help="a PipelineConfig YAML file")],
    show_samples: Annotated[bool, typer.Option(
        help="the HTML report shows the forget samples' texts (tracking.show_samples)")] = False,
) -> None:  # fmt: skip
    """Run the pipeline on the model and data a config file names."""
    try:
        loaded = load_config(config)
        missing_inputs(loaded)
    except ConfigFileError as err:
        fail(err)
    if show_samples:
        loaded.tracking.show_samples = True
    execute(loaded)


def demo(
    home: Annotated[str | None, typer.Option(help="forgetflow's folder")] = None,
    size: Annotated[Literal["tiny", "small"], typer.Option(help="world size")] = "tiny",
    backend: Annotated[
        Literal["hf", "vllm"], typer.Option(help="who generates: hf, or a vLLM server")
    ] = "hf",
) -> None:
    """Run the demo preset, flows/deployments/demo-tiny.yaml (its world is built on first use).

    The tiny world builds in about 30 s; --size and --backend override the preset's world and
    its audit's backend.
    """
    from flows.presets import demo_config

    execute(demo_config(home, size, backend))


def serve(
    config: Annotated[Path, typer.Option("--config", help="a PipelineConfig YAML file")],
    name: Annotated[str, typer.Option(help="the deployment's name")] = "forgetflow",
    cron: Annotated[str | None, typer.Option(help="a schedule, e.g. '0 3 * * *'")] = None,
) -> None:
    """Serve the pipeline as a Prefect deployment with this config as its default parameters.

    Needs a Prefect server (`make prefect-ui`, then PREFECT_API_URL); runs from the UI's typed
    form and on the schedule until interrupted.
    """
    try:
        loaded = load_config(config)
    except ConfigFileError as err:
        fail(err)
    configure_environment(resolve_paths(loaded.home))
    from flows.unlearning_pipeline import unlearning_pipeline

    unlearning_pipeline.serve(
        name=name, parameters={"config": loaded.model_dump(mode="json")}, cron=cron
    )
