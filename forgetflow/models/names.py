"""What a model name resolves to: a directory as given, a pulled model, or a fine-tuned one."""

from __future__ import annotations

import json
from pathlib import Path

from forgetflow.models.pulled import CATALOG, ModelPullError, manifest_of, models_root
from forgetflow.paths import resolve_paths

FINETUNED_SUFFIX = "-retain"  # the retain model's name: the target's name + this


def finetuned_pointer(name: str, home: str | Path | None = None) -> Path:
    """Where the stable name of a fine-tuned model (scenarios.records.finetune) points."""
    return resolve_paths(home).home / "finetuned" / f"{name}.json"


def resolve_model(spec: str | Path, home: str | Path | None = None) -> Path:
    """A model directory as given, or the directory of a pulled or fine-tuned model of that
    name."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    pointer = finetuned_pointer(str(spec), home) if "/" not in str(spec) else None
    if pointer is not None and pointer.is_file():
        return Path(json.loads(pointer.read_text())["directory"])
    if str(spec) not in CATALOG:
        return path
    directory = models_root(home) / str(spec)
    if manifest_of(directory) is None:
        raise ModelPullError(f"model {spec} is not pulled yet: run `forgetflow models pull {spec}`")
    return directory
