"""The one-line error every command ends with on bad input."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(err: Exception) -> NoReturn:
    """One plain line on stderr (no wrapping, so it greps), exit code 2."""
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2) from err
