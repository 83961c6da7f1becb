"""What every stage task receives: the store, the tracking server and its parent run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from forgetflow.data.samples import samples_from_table
from forgetflow.paths import resolve_paths
from forgetflow.records import Sample
from storage.artifacts import ArtifactRef, ArtifactStore
from storage.tracking import Tracker


@dataclass(frozen=True)
class StageContext:
    home: str
    tracking_uri: str
    experiment: str
    parent_run_id: str
    environment: dict[str, str] = field(default_factory=dict)  # written into every artifact

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(resolve_paths(self.home).artifacts, self.environment)

    def tracker(self) -> Tracker:
        return Tracker(
            self.tracking_uri, self.experiment, resolve_paths(self.home).mlflow_artifacts
        )

    def samples(self, *refs: ArtifactRef) -> list[Sample]:
        return [s for ref in refs for s in samples_from_table(self.store.get_table(ref))]

    def model_dir(self, ref: ArtifactRef) -> Path:
        return self.store.get_dir(ref)


@dataclass(frozen=True)
class InputRefs:
    """The pipeline's inputs as artifacts: the target model and the three splits, and the kind
    of their rows (text or qa)."""

    model: ArtifactRef
    forget: ArtifactRef
    retain: ArtifactRef
    holdout: ArtifactRef
    kind: str = "text"


@dataclass(frozen=True)
class UnlearningRefs:
    model: ArtifactRef
    ledger: ArtifactRef
    training_log: ArtifactRef
