"""The stage cache: a stage's result kept under a key of everything it depends on, so that an
unchanged re-run reuses it instead of computing it again.

A key is the sha256 of the stage's name, its inputs (artifact refs name their content hash), its
settings and the code version: the sha256 over the source files of `forgetflow/`, `tasks/` and
`storage/`, so that any change to the code misses every key. An entry is the result and the
MLflow run that computed it; an entry whose artifacts are gone from the store is a miss.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgetflow.atomic import staged_file
from forgetflow.hashing import content_sha256, file_sha256

CODE_PACKAGES = ("forgetflow", "tasks", "storage")
CODE_SUFFIXES = (".py", ".yaml", ".tsv", ".json")


@functools.cache
def code_version(root: Path | None = None) -> str:
    """sha256 over the relative path and content of every source file of CODE_PACKAGES."""
    base = root or Path(__file__).resolve().parents[1]
    files = sorted(p for package in CODE_PACKAGES for p in (base / package).rglob("*")
                   if p.suffix in CODE_SUFFIXES and p.is_file()
                   and "__pycache__" not in p.parts)  # fmt: skip
    return content_sha256([[p.relative_to(base).as_posix(), file_sha256(p)] for p in files])


@dataclass(frozen=True)
class CacheEntry:
    """A stage's result and the MLflow run that computed it (a reuse points at it)."""

    run_id: str
    value: Any


def refs_in(value: object) -> list[Path]:
    """The local paths of every artifact ref inside `value` (dataclasses, lists, dicts)."""
    from storage.artifacts import ArtifactRef

    if isinstance(value, ArtifactRef):
        return [value.path]
    if isinstance(value, dict):
        return [p for one in value.values() for p in refs_in(one)]
    if isinstance(value, list | tuple):
        return [p for one in value for p in refs_in(one)]
    if hasattr(value, "__dataclass_fields__"):
        return [p for name in value.__dataclass_fields__ for p in refs_in(getattr(value, name))]
    return []


@dataclass(frozen=True)
class StageCache:
    """Entries under `root/<stage>/<key>.pkl` (the tool's own results, written by itself)."""

    root: Path

    def key(self, stage: str, parts: object) -> str:
        return content_sha256({"stage": stage, "code": code_version(), "parts": parts})

    def get(self, stage: str, key: str) -> CacheEntry | None:
        path = self.root / stage / f"{key}.pkl"
        if not path.is_file():
            return None
        entry = pickle.loads(path.read_bytes())  # noqa: S301 (written by this cache only)
        if not all(p.exists() for p in refs_in(entry.value)):
            return None
        return entry

    def put(self, stage: str, key: str, entry: CacheEntry) -> None:
        path = self.root / stage / f"{key}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(path) as staged:
            staged.write_bytes(pickle.dumps(entry))


def fingerprint(value: object) -> object:
    """`value` as JSON-able data for a key: pydantic models by their JSON dump, dataclasses by
    their fields, paths as strings."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")  # type: ignore[attr-defined]
    if hasattr(value, "__dataclass_fields__"):
        return {name: fingerprint(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fingerprint(one) for one in value]
    if isinstance(value, Path):
        return str(value)
    return value
