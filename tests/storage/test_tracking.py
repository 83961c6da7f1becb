from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from storage.artifacts import ArtifactRef
from storage.tracking import KIND, KIND_TAG, ModelRecord, Tracker, flatten


def test_parent_and_child_runs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "exp", tmp_path / "mlartifacts")
    parent = tracker.start_run("pipeline")
    parent.log_params({"config": {"a": 1, "b": {"c": [1, 2]}}})
    with tracker.stage_run("stage-a", parent.run_id) as child:
        child.log_metrics({"m": 1.5})
        child.log_curve("loss", [(1, 2.0), (2, 1.0)])
        child.log_ref("table", ArtifactRef("file:///x.parquet", "samples", 1, 3, "ab" * 32))
    with pytest.raises(RuntimeError), tracker.stage_run("stage-b", parent.run_id):
        raise RuntimeError("boom")
    tracker.end_run(parent)

    client = MlflowClient(uri)
    runs = {r.info.run_name: r for r in client.search_runs([tracker.experiment_id])}
    assert runs["pipeline"].data.params == {"config.a": "1", "config.b.c": "[1, 2]"}
    assert runs["stage-a"].data.tags["mlflow.parentRunId"] == parent.run_id
    assert runs["stage-a"].data.metrics == {"m": 1.5, "loss": 1.0}
    assert runs["stage-a"].data.tags["artifact.table.sha256"] == "ab" * 32
    assert [m.value for m in client.get_metric_history(runs["stage-a"].info.run_id, "loss")] == [
        2.0,
        1.0,
    ]
    assert runs["stage-b"].info.status == "FAILED"
    assert runs["pipeline"].info.status == "FINISHED"
    # a second tracker finds the same experiment instead of creating another
    assert Tracker(uri, "exp", tmp_path / "mlartifacts").experiment_id == tracker.experiment_id


def test_flatten_nests_with_dots() -> None:
    assert flatten("", {"a": {"b": 1}, "c": (1, 2)}) == {"a.b": "1", "c": "[1, 2]"}


def test_the_experiment_opens_as_model_training(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    made = Tracker(uri, "new", tmp_path / "a").experiment_id
    assert client.get_experiment(made).tags[KIND_TAG] == "custom_model_development" == KIND
    # an experiment made without the tag (an older forgetflow, or by hand) gets it when opened
    older = client.create_experiment("older", artifact_location=(tmp_path / "b").as_uri())
    assert KIND_TAG not in client.get_experiment(older).tags
    assert Tracker(uri, "older", tmp_path / "b").experiment_id == older
    assert client.get_experiment(older).tags[KIND_TAG] == KIND


def test_inputs_are_logged_as_datasets_without_their_content(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = Tracker(uri, "exp", tmp_path / "a").start_run("pipeline")
    forget = ArtifactRef("file:///store/samples/ab.parquet", "samples", 1, 36, "ab" * 32)
    holdout = ArtifactRef("file:///store/samples/cd.parquet", "samples", 1, 128, "cd" * 32)
    run.log_datasets({"forget": forget, "holdout": holdout})
    logged = MlflowClient(uri).get_run(run.run_id).inputs.dataset_inputs
    by_name = {d.dataset.name: d for d in logged}
    assert set(by_name) == {"forget", "holdout"}
    assert by_name["forget"].dataset.digest == "ab" * 6
    assert json.loads(by_name["holdout"].dataset.profile) == {"num_rows": 128}
    assert json.loads(by_name["forget"].dataset.source) == {"uri": forget.uri}
    assert [(t.key, t.value) for t in by_name["forget"].tags] == [("mlflow.data.context", "forget")]


def test_a_model_is_logged_and_registered_by_weights_or_by_reference(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "exp", tmp_path / "a")
    weights = tmp_path / "model"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    client = MlflowClient(uri)
    versions = []
    for given in (weights, None):  # two runs of one name: versions 1 and 2
        run = tracker.start_run("pipeline")
        tags = {"forgetflow.verdict": "fail"}
        record = ModelRecord("unlearned", weights.as_uri(), "ef" * 32, tags, "after sha256 efef")
        versions.append(tracker.register_model(run.run_id, record, given))
        (output,) = client.get_run(run.run_id).outputs.model_outputs
        logged = client.get_logged_model(output.model_id)
        assert logged.tags["forgetflow.sha256"] == "ef" * 32 and logged.status.name == "READY"
        copied = Path(logged.artifact_location.removeprefix("file://"))
        assert (copied / "config.json").is_file() == (given is not None)
    assert versions == ["1", "2"]
    version = client.get_model_version("unlearned", "2")
    assert version.tags["forgetflow.verdict"] == "fail"
    assert version.description == "after sha256 efef"
    assert version.tags["forgetflow.uri"] == weights.as_uri()
