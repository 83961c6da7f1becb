"""Build a scenario's folder once: staged next to its final place, then renamed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch


def training_device() -> torch.device:
    """CUDA where present (the `base` size is meant for a GPU), else the CPU. Weights are only
    identical between builds on the same device and thread count."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_once(folder: Path, write: Callable[[Path], None]) -> None:
    """Run `write` into a staging folder next to `folder`, then rename it to `folder`: a crash
    leaves nothing half-built, and a concurrent build that finished first wins."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        write(staging)
        if folder.exists():
            shutil.rmtree(staging)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
