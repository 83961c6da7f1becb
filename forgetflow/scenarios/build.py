"""Build a scenario's folder once: staged next to its final place, then renamed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from forgetflow.atomic import staged_dir


def training_device() -> torch.device:
    """CUDA where present (the `base` size is meant for a GPU), else the CPU. Weights are only
    identical between builds on the same device and thread count."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_once(folder: Path, write: Callable[[Path], None]) -> None:
    """Run `write` into a staging folder next to `folder`, then rename it to `folder`: a crash
    leaves nothing half-built, and a concurrent build that finished first wins."""
    with staged_dir(folder) as staging:
        write(staging)
