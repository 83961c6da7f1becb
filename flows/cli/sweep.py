"""`forgetflow sweep --config SWEEP.yaml`: a grid of pipeline runs and its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.errors import fail


def sweep(
    config: Annotated[Path, typer.Option("--config", help="a sweep YAML file (flows/sweep.py)")],
) -> None:
    """Run every cell of a sweep (methods x grid x seeds), then its summary and Pareto plot."""
    from flows.environment import configure_environment
    from flows.params import ConfigFileError
    from flows.sweep import load_sweep, run_sweep
    from forgetflow.paths import resolve_paths

    try:
        loaded = load_sweep(config)
    except (ConfigFileError, ValueError) as err:
        fail(err)
    configure_environment(resolve_paths(loaded.base.get("home")))
    summary = run_sweep(loaded)
    typer.echo(f"summary: {summary}")
    typer.echo(f"pareto:  {Path(summary).with_name('pareto.png')}")
