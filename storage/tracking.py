"""MLflow glue: the only module that imports mlflow.

One experiment; a parent run per pipeline run; a child run per stage. Everything goes through
`MlflowClient` with explicit run ids, so it is safe from any thread (Prefect runs tasks in workers).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunTag,
)
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict, Field

from storage.artifacts import ArtifactRef

PARENT_TAG = "mlflow.parentRunId"
# MLflow 3's UI opens an experiment by its kind: the model-training view, not the GenAI one
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


class Reported(Protocol):
    """What a figure (forgetflow.records.Figure) gives MLflow: its key and its value."""

    @property
    def key(self) -> str: ...

    @property
    def value(self) -> float: ...


MAX_PARAM_CHARS = 6000


def default_tracking_uri(db_path: Path) -> str:
    """$MLFLOW_TRACKING_URI when set, else a sqlite database at `db_path`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{db_path}"


def flatten(prefix: str, value: object) -> dict[str, str]:
    """Nested config -> flat `a.b.c` params, as MLflow wants them."""
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return {prefix: text[:MAX_PARAM_CHARS]}


def stage_child(client: MlflowClient, parent_run_id: str, stage: str) -> Run | None:
    """The child run of pipeline run `parent_run_id` named `stage`; None when it has none."""
    parent = client.get_run(parent_run_id)
    found = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and "
        f"tags.mlflow.runName = '{stage}'",
    )
    return found[0] if found else None


def read_ref(client: MlflowClient, run_id: str, role: str, scratch: str | Path) -> ArtifactRef:
    """The artifact ref a run logged under `role` (`RunHandle.log_ref`), downloaded into
    `scratch`."""
    local = client.download_artifacts(run_id, f"refs/{role}.json", str(scratch))
    return ArtifactRef(**json.loads(Path(local).read_text()))


@dataclass(frozen=True)
class RunHandle:
    """A run the pipeline writes to; `client` is bound to the tracking URI."""

    client: MlflowClient
    run_id: str

    def log_params(self, params: Mapping[str, object]) -> None:
        flat = flatten("", params)
        batch = [Param(key, value) for key, value in flat.items()]
        for start in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[start : start + 100])

    def _log_metric_batch(self, batch: list[Metric]) -> None:
        for start in range(0, len(batch), 500):  # MLflow's per-request limit is 1000
            self.client.log_batch(self.run_id, metrics=batch[start : start + 500])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        self._log_metric_batch([Metric(k, float(v), 0, step) for k, v in metrics.items()])

    def log_figures(self, figures: Sequence[Reported]) -> None:
        """Each figure under its key `<stage>/<variant>/<metric>` (the metric qualified by its
        group), so that runs compare in MLflow's chart view."""
        self.log_metrics({f.key: f.value for f in figures})

    def log_curve(self, name: str, points: list[tuple[int, float]]) -> None:
        self._log_metric_batch([Metric(name, float(value), 0, step) for step, value in points])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_ref(self, role: str, ref: ArtifactRef) -> None:
        """Record an artifact ref: as tags for search, as JSON for reading."""
        self.set_tags({f"artifact.{role}.uri": ref.uri, f"artifact.{role}.sha256": ref.sha256})
        self.log_dict(ref.to_dict(), f"refs/{role}.json")

    def copy_refs(self, source_run_id: str) -> None:
        """The artifact refs `source_run_id` logged (`log_ref`), logged on this run too: a
        reused stage's run reads like the run that computed it."""
        with tempfile.TemporaryDirectory() as scratch:
            try:
                folder = self.client.download_artifacts(source_run_id, "refs", scratch)
            except MlflowException:  # the source logged no ref
                return
            for path in sorted(Path(folder).glob("*.json")):
                ref = ArtifactRef(**json.loads(path.read_text()))
                self.log_ref(path.stem, ref)

    def log_datasets(self, refs: Mapping[str, ArtifactRef]) -> None:
        """Each table artifact as an MLflow dataset input named by its role: digest (sha256's
        first 12 hex digits), source (the artifact's URI) and row count, never its content."""
        inputs = [DatasetInput(Dataset(role, ref.sha256[:12], "local", json.dumps({"uri": ref.uri}),
                                       profile=json.dumps({"num_rows": ref.num_rows})),
                               [InputTag("mlflow.data.context", role)])
                  for role, ref in refs.items()]  # fmt: skip
        self.client.log_inputs(self.run_id, datasets=inputs)

    def log_dict(self, payload: Mapping[str, object], artifact_file: str) -> None:
        self.client.log_dict(self.run_id, dict(payload), artifact_file)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_plot(self, figure: object, artifact_file: str) -> None:
        """A matplotlib figure as an image artifact (MLflow shows it in the run's artifacts)."""
        self.client.log_figure(self.run_id, figure, artifact_file)

    def log_table(self, columns: Mapping[str, list], artifact_file: str) -> None:
        """Equal-length columns as an MLflow table (the UI's artifact view and its evaluation
        view read it); the caller redacts what it holds."""
        self.client.log_table(self.run_id, data=dict(columns), artifact_file=artifact_file)


MAX_LOGGED_BYTES = 200 * 1024**2  # a larger model is logged by reference unless told otherwise


class TrackingConfig(BaseModel):
    """What the run leaves in MLflow beyond its runs: the unlearned model, logged and registered,
    and what the report may show."""

    model_config = ConfigDict(extra="forbid")

    log_model_weights: bool = Field(
        False, description="copy the unlearned model's weights into MLflow however large; "
        "false: up to 200 MB they are copied, a larger model is logged by reference (its URI "
        "and sha256)",
    )  # fmt: skip
    registered_model: str | None = Field(
        None, min_length=1, description="the model registry's name for the unlearned model "
        "(each run adds a version); null: the run's name",
    )  # fmt: skip
    show_samples: bool = Field(
        False, description="the HTML report shows the forget samples' texts and a facts run's "
        "anti-samples (the forget set's content then enters the report in MLflow); false: a "
        "sample is its id, sha256[:12] and length in tokens",
    )  # fmt: skip


@dataclass(frozen=True)
class ModelRecord:
    """What the model registry keeps of a model: its registered name, where its weights live and
    their sha256, its tags and its description."""

    name: str
    uri: str
    sha256: str
    tags: Mapping[str, str]
    description: str


class Tracker:
    """The pipeline's experiment in one MLflow tracking store."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            artifact_root.mkdir(parents=True, exist_ok=True)
            location = artifact_root.resolve().as_uri()
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=location, tags={KIND_TAG: KIND}
            )
            return
        self.experiment_id = found.experiment_id
        if KIND_TAG not in found.tags:  # an experiment made before the tag: opens as model training
            self.client.set_experiment_tag(self.experiment_id, KIND_TAG, KIND)

    def register_model(self, run_id: str, record: ModelRecord, weights: Path | None) -> str:
        """Log the model as an output of run `run_id` (the folder `weights` copied into MLflow, or,
        None, by reference: URI and sha256 as tags) and register it as a new version of
        `record.name`; returns the version."""
        tags = {"forgetflow.uri": record.uri, "forgetflow.sha256": record.sha256, **record.tags}
        logged = self.client.create_logged_model(self.experiment_id, name=record.name,
                                                 source_run_id=run_id, tags=tags)  # fmt: skip
        if weights is not None:
            self.client.log_model_artifacts(logged.model_id, str(weights))
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
        try:
            self.client.create_registered_model(record.name)
        except MlflowException as err:  # registered by an earlier run: a new version of it
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(
            record.name, logged.artifact_location, run_id, tags=tags,
            description=record.description,
        )  # fmt: skip
        return str(version.version)

    def start_run(self, name: str, parent_run_id: str | None = None) -> RunHandle:
        tags = {"mlflow.runName": name}
        if parent_run_id is not None:
            tags[PARENT_TAG] = parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        return RunHandle(self.client, run.info.run_id)

    def handle(self, run_id: str) -> RunHandle:
        return RunHandle(self.client, run_id)

    def end_run(self, handle: RunHandle, failed: bool = False) -> None:
        self.client.set_terminated(handle.run_id, "FAILED" if failed else "FINISHED")

    @contextmanager
    def stage_run(self, stage: str, parent_run_id: str) -> Iterator[RunHandle]:
        """A child run for one stage; FAILED when the stage raises."""
        handle = self.start_run(stage, parent_run_id)
        handle.set_tags({"forgetflow.stage": stage})
        try:
            yield handle
        except BaseException:
            self.end_run(handle, failed=True)
            raise
        self.end_run(handle)
