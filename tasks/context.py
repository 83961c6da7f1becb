"""What every stage task receives: the store, the tracking server and its parent run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from forgetflow.antisamples.unstar.request import FactRequest, request_from_json
from forgetflow.data.samples import samples_from_table
from forgetflow.paths import resolve_paths
from forgetflow.records import Figure, ModelVariant, Sample
from storage.artifacts import ArtifactRef, ArtifactStore
from storage.tracking import Tracker


@dataclass(frozen=True)
class StageContext:
    home: str
    tracking_uri: str
    experiment: str
    parent_run_id: str
    environment: dict[str, str] = field(default_factory=dict)  # written into every artifact
    reuse: bool = True  # a stage's cached result stands in for it when nothing it uses changed

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

    def variants(self, refs: list[VariantRef]) -> list[ModelVariant]:
        return [ModelVariant(r.label, self.model_dir(r.model), r.parent) for r in refs]


@dataclass(frozen=True)
class VariantRef:
    """A model variant as tasks pass it: its label, its model artifact and its parent's label."""

    label: str
    model: ArtifactRef
    parent: str | None = None


@dataclass(frozen=True)
class StageResult:
    """A stage's table artifact, the figures it reported (for the report) and the lines the end
    of a run repeats (the audit: each variant's model verdict)."""

    table: ArtifactRef
    figures: tuple[Figure, ...]
    notes: tuple[str, ...] = ()
    refs: dict[str, ArtifactRef] = field(default_factory=dict)  # more tables, for the report


@dataclass(frozen=True)
class InputRefs:
    """The pipeline's inputs as artifacts: the target model and the three splits, the kind of
    their rows (text or qa), where the scenario or the user gives one the retain model, and
    where there is general text its two halves (samples of splits guard and eval)."""

    model: ArtifactRef
    forget: ArtifactRef
    retain: ArtifactRef
    holdout: ArtifactRef
    kind: str = "text"
    retain_model: ArtifactRef | None = None  # the scenario's or the user's gold standard
    guard: ArtifactRef | None = None  # general text's guard half (the unlearning loop's guard)
    general: ArtifactRef | None = None  # general text's eval half (what utility reports)
    facts: ArtifactRef | None = None  # a facts request's folder (request.json): its targets


@dataclass(frozen=True)
class RoundZeroRefs:
    """UnSTAR's round 0 as stage 2 wrote it: the questions and falsified answers
    (unstar_written) and round 1's probe and anti-samples (unstar_rounds)."""

    written: ArtifactRef
    first_round: ArtifactRef


@dataclass(frozen=True)
class UnlearningRefs:
    model: ArtifactRef
    ledger: ArtifactRef
    training_log: ArtifactRef
    steps: int = 0
    figures: tuple[Figure, ...] = ()  # the last step's training figures, the after ledger's
    rounds: ArtifactRef | None = None  # UnSTAR's rounds table (unstar_rounds), if it ran
    stopped_by: str = ""  # what ended the loop (the report marks it)


def facts_request(ctx: StageContext, inputs: InputRefs) -> FactRequest | None:
    """A facts request's targets and questions (UnSTAR and the audit read them); None for a
    sequences request."""
    if inputs.facts is None:
        return None
    folder = ctx.store.get_dir(inputs.facts)
    return request_from_json(json.loads((folder / "request.json").read_text(encoding="utf-8")))
