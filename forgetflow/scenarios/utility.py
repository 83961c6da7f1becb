"""What a data source gives utility beside the user's own files: general text and QA sets.

- the world: its held-out background passages, its people's and objects' facts
  (world/utility.py);
- the fine-tuned records (SmolLM2): GENERAL_PASSAGES passages of Debian's English sources
  (fortunes, gcide) where those packages are installed, chosen with a fixed seed, named by
  source and content hash; none of them is in the records it was fine-tuned on;
- your own files: nothing beyond `utility.text` and `utility.qa`.
"""

from __future__ import annotations

from pathlib import Path

from forgetflow.hashing import content_sha256
from forgetflow.paths import resolve_paths
from forgetflow.scenarios.sources import DataSource, FinetunedSource, WorldSource
from forgetflow.scenarios.world.background import (
    SOURCES,
    BackgroundSourceError,
    background_passages,
)
from forgetflow.scenarios.world.build import build_world
from forgetflow.scenarios.world.utility import general_text, world_qa_sets
from forgetflow.utility.sets import QASet, TextSet

GENERAL_PASSAGES = 200  # Debian passages per source for a pulled model's general text
DEBIAN_SOURCES = ("fortunes", "gcide")
PASSAGE_SEED = 17  # fixed: the same passages on every run and machine with the same packages


def debian_text(source: str) -> TextSet | None:
    """GENERAL_PASSAGES passages of one Debian source, or None where it is not installed."""
    if source not in SOURCES:
        raise ValueError(f"unknown text source {source!r}; sources: {SOURCES}")
    try:
        passages = background_passages(source, GENERAL_PASSAGES, PASSAGE_SEED)
    except BackgroundSourceError:
        return None
    digest = content_sha256(passages)[:12]
    return TextSet(f"{source}-{digest}", tuple(passages), f"debian:{source} sha256:{digest}")


def scenario_text(source: DataSource, home: str | Path | None) -> list[TextSet]:
    """The source's general text (none for your own files)."""
    if isinstance(source, WorldSource):
        return [general_text(build_world(source.world, resolve_paths(home).worlds))]
    if isinstance(source, FinetunedSource):
        return [t for t in (debian_text(s) for s in DEBIAN_SOURCES) if t is not None]
    return []


def scenario_qa(source: DataSource, home: str | Path | None, seed: int) -> list[QASet]:
    """The source's QA sets (the world's facts; none otherwise)."""
    if isinstance(source, WorldSource):
        return world_qa_sets(build_world(source.world, resolve_paths(home).worlds), seed)
    return []
