"""`forgetflow deployments ...`: prefect.yaml, rendered from the presets in flows/deployments/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.generated import write_or_check
from flows.presets import deployable_presets, render_prefect_yaml

app = typer.Typer(
    help="Prefect deployments, rendered from the presets in flows/deployments/.",
    no_args_is_help=True,
)


@app.command()
def render(
    out: Annotated[Path, typer.Option(help="the file to write")] = Path("prefect.yaml"),
    check: Annotated[
        bool, typer.Option("--check", help="write nothing; exit 2 when OUT is stale")
    ] = False,
) -> None:
    """Write prefect.yaml: one deployment per preset (examples excepted), its config as the
    deployment's parameters."""
    command = f"forgetflow deployments render --out {out}"
    if write_or_check(out, render_prefect_yaml(), check, command):
        typer.echo(f"wrote {out}: {', '.join(deployable_presets())}")
