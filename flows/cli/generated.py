"""Files a command generates from the code (prefect.yaml, docs/configuration.md): written, or
with `--check` compared, ending in one `error:` line while the file on disk is stale."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli.errors import fail


class StaleFileError(ValueError):
    """A generated file differs from what its command would write."""


def write_or_check(out: Path, text: str, check: bool, command: str) -> bool:
    """Write `text` to `out`; with `check`, write nothing and fail (exit 2) when `out` is missing
    or differs from `text`, naming `command`, which writes it. True when `out` was written."""
    if check:
        if not out.is_file() or out.read_text() != text:
            fail(StaleFileError(f"{out} is stale: run `{command}`"))
        typer.echo(f"{out} is up to date")
        return False
    out.write_text(text)
    return True
