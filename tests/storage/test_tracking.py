from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from storage.artifacts import ArtifactRef
from storage.tracking import KIND, KIND_TAG, Tracker, flatten


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
