"""`forgetflow config ...`: the pipeline config's reference, docs/configuration.md, generated
from PipelineConfig's schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.generated import write_or_check
from flows.config_reference import render_configuration_md

app = typer.Typer(help="The pipeline config's reference.", no_args_is_help=True)


@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="the file to write")] = Path("docs/configuration.md"),
    check: Annotated[
        bool, typer.Option("--check", help="write nothing; exit 2 when OUT is stale")
    ] = False,
) -> None:
    """Write docs/configuration.md: every key of a pipeline config with its type, default and
    description, from the config's schema."""
    if write_or_check(out, render_configuration_md(), check, f"forgetflow config docs --out {out}"):
        typer.echo(f"wrote {out}")
