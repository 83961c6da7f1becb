"""`forgetflow deployments ...`: prefect.yaml, rendered from the presets in flows/deployments/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.errors import fail
from flows.presets import deployable_presets, render_prefect_yaml

app = typer.Typer(
    help="Prefect deployments, rendered from the presets in flows/deployments/.",
    no_args_is_help=True,
)


class StaleDeploymentsError(ValueError):
    """prefect.yaml differs from what the presets render."""


@app.command()
def render(
    out: Annotated[Path, typer.Option(help="the file to write")] = Path("prefect.yaml"),
    check: Annotated[
        bool, typer.Option("--check", help="write nothing; exit 2 when OUT is stale")
    ] = False,
) -> None:
    """Write prefect.yaml: one deployment per preset (examples excepted), its config as the
    deployment's parameters."""
    text = render_prefect_yaml()
    if check:
        if not out.is_file() or out.read_text() != text:
            fail(StaleDeploymentsError(
                f"{out} is stale: run `forgetflow deployments render --out {out}`"))  # fmt: skip
        typer.echo(f"{out} is up to date")
        return
    out.write_text(text)
    typer.echo(f"wrote {out}: {', '.join(deployable_presets())}")
