"""A facts request through `forgetflow run --config` with the facts-unstar preset: the world's
fact drawn at request time, UnSTAR's rounds stored and logged, the targets-retain model audited
beside before and after."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from flows.cli import app
from flows.presets import load_preset
from forgetflow.antisamples.leak_filter import leak_reason
from forgetflow.paths import resolve_paths
from storage.artifacts import ArtifactRef, ArtifactStore
from storage.tracking import default_tracking_uri


def ref(client: MlflowClient, run_id: str, role: str, folder: Path) -> ArtifactRef:
    local = client.download_artifacts(run_id, f"refs/{role}.json", str(folder / run_id))
    return ArtifactRef(**json.loads(Path(local).read_text()))


def test_the_facts_preset_runs_unstar_through_the_pipeline(
    prefect_harness, tiny_world, session_home, tmp_path, capsys, quick_utility
) -> None:
    config = load_preset("facts-unstar").model_dump(mode="json", exclude_unset=True)
    config |= {"home": str(session_home), "utility": quick_utility,
               "audit": {"stresses": [], "mia_attacks": ["loss"]}}  # fmt: skip
    config["unlearning"]["method"]["rounds"] = 2
    path = tmp_path / "facts.yaml"
    path.write_text(yaml.safe_dump(config))
    code = app(["run", "--config", str(path)], standalone_mode=False) or 0
    output = "".join(capsys.readouterr())
    assert code == 0, output
    client = MlflowClient(default_tracking_uri(resolve_paths(session_home).mlflow_db))
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("forgetflow").experiment_id],
        filter_string="tags.mlflow.runName = 'facts-unstar'",
    )
    assert parent.info.status == "FINISHED" and parent.data.params["input.kind"] == "qa"
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    unlearning = next(r for r in children if r.info.run_name == "run_unlearning")
    store = ArtifactStore(resolve_paths(session_home).artifacts)
    rounds = store.get_table(ref(client, unlearning.info.run_id, "rounds", tmp_path)).to_pylist()
    request = json.loads((tiny_world.root / "requests").glob("facts-*/request.json").__next__()
                         .read_text())  # fmt: skip
    (target,) = request["targets"]
    assert rounds and {r["target_id"] for r in rounds} == {target["target_id"]}
    for row in (r for r in rounds if r["accepted"]):
        text = f"{row['falsified']}. {row['rationale']}"
        expected = target["subject"] if row["variant"] == "reversed" else target["answer"]
        assert leak_reason((expected,), text) is None
    audit = next(r for r in children if r.info.run_name == "audit")
    assert "audit/retain_model/forget/fact_greedy" in audit.data.metrics  # targets-retain model
