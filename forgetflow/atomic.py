"""The one staged write: a file or a folder is written beside its final place, then renamed onto
it, so that a reader sees it whole or not at all and a crash leaves nothing half-written."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_file(final: Path) -> Iterator[Path]:
    """A fresh path beside `final` to write to; renamed onto `final` when the block succeeds,
    removed when it fails."""
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    os.close(handle)
    staging = Path(name)
    try:
        yield staging
        os.replace(staging, final)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def write_text(final: Path, text: str) -> None:
    with staged_file(final) as staging:
        staging.write_text(text)


@contextmanager
def staged_dir(final: Path, replace: bool = False) -> Iterator[Path]:
    """A fresh folder beside `final` to write into, renamed to `final` when the block succeeds.

    When `final` exists by then: `replace=False` keeps it (a concurrent build of the same content
    finished first) and drops the staged one; `replace=True` swaps the staged one in.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield staging
        if not replace:
            publish(staging, final)
            return
        old = final.with_name(f".{final.name}.old")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staged: Path, final: Path) -> None:
    """Move a whole staged file or folder to `final`, unless something is already there: then
    that one stays (a content-addressed or concurrent writer of the same content came first)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and staged.is_dir():
        shutil.rmtree(staged)
    elif final.exists():
        staged.unlink()
    else:
        os.replace(staged, final)
