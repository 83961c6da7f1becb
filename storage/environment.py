"""What a run records about itself: the code's git commit and the environment fingerprint (what
can change its numbers: package versions, device, CPU capability, torch threads; and its seed,
effective batch size and dtypes), on the parent run and in every artifact it writes."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("forgetflow", "torch", "transformers", "tokenizers", "datasets", "pyarrow",
            "prefect", "mlflow", "faker")  # fmt: skip


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def accelerator_name() -> str:
    """The CUDA device torch sees, else "none"."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"


def environment_fingerprint(
    seed: int, effective_batch_size: int, device: str, dtypes: dict[str, str]
) -> dict[str, str]:
    """Flat string values (MLflow tags, Parquet metadata): `version.<package>`, `python`,
    `torch_threads`, `device` (where the run computes), `accelerator`, `cpu_capability`, `seed`,
    `effective_batch_size`, `dtype.<use>` (the dtype each use runs in)."""
    versions = package_versions()
    return {
        "python": versions.pop("python"),
        **{f"version.{name}": version for name, version in versions.items()},
        "torch_threads": str(torch.get_num_threads()),
        "device": device,
        "accelerator": accelerator_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "seed": str(seed),
        "effective_batch_size": str(effective_batch_size),
        **{f"dtype.{use}": dtype for use, dtype in dtypes.items()},
    }


def git_commit() -> str:
    """The commit of the checkout forgetflow runs from, with '+dirty' for local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
