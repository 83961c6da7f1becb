"""A facts request through `forgetflow run --config` with the facts-unstar preset: the world's
fact drawn at request time, UnSTAR's rounds stored and logged, the targets-retain model audited
beside before and after."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from flows.cli import app
from flows.presets import load_preset
from forgetflow.antisamples.leak_filter import leak_reason
from forgetflow.paths import resolve_paths
from storage.artifacts import ArtifactStore
from storage.tracking import default_tracking_uri, read_ref


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
    rounds = store.get_table(
        read_ref(client, unlearning.info.run_id, "rounds", tmp_path)
    ).to_pylist()
    # the preset writes round 0 in stage 2: round 1 trained on what that stage stored
    zero = next(r for r in children if r.info.run_name == "write_round_zero")
    first = store.get_table(read_ref(client, zero.info.run_id, "first_round", tmp_path))
    assert [r for r in rounds if r["round"] == 1] == first.to_pylist()
    assert zero.data.metrics["accepted"] == sum(r["accepted"] for r in first.to_pylist()) > 0
    (drawn,) = (tiny_world.root / "requests").glob("facts-*/request.json")
    request = json.loads(drawn.read_text())
    targets = {t["target_id"]: t for t in request["targets"]}
    assert len(targets) == 2 and {r["target_id"] for r in rounds} == set(targets)
    assert {r["round"] for r in rounds} >= {1}  # every question is asked in round 1
    for row in (r for r in rounds if r["accepted"]):
        text = f"{row['falsified']}. {row['rationale']}"
        target = targets[row["target_id"]]
        expected = target["subject"] if row["variant"] == "reversed" else target["answer"]
        assert leak_reason((expected,), text) is None
    audit = next(r for r in children if r.info.run_name == "audit")
    for variant in ("before", "after", "retain_model"):  # retain_model: the targets-retain model
        assert f"audit/{variant}/forget/fact_greedy" in audit.data.metrics
        for kind in ("targeted:rephrase", "targeted:reversed", "keep_subject", "keep_object"):
            share = audit.data.metrics.get(f"audit/{variant}/{kind}/{metric_of(kind)}")
            assert share is not None and 0.0 <= share <= 1.0, (variant, kind)
    logged = client.download_artifacts(audit.info.run_id, "targeted.json", str(tmp_path))
    rows = json.loads(Path(logged).read_text())["rows"]  # texts as digests: answers may be PII
    assert rows and all("answer" not in r and len(r["answer_sha256"]) == 12 for r in rows)
    report_md = Path(output.split("report:")[1].split()[0])
    page = report_md.with_suffix(".html").read_text()
    found = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, re.S))
    assert all("<table>" in b or "<img " in b or "not applicable: " in b for b in found.values())
    assert "<table>" in found["facts"] and "<img " in found["facts"]  # rounds per target
    report = report_md.read_text()
    assert "unstar_accepted" in report and "targeted_answered" in report


def metric_of(kind: str) -> str:
    return "keep_answered" if kind.startswith("keep") else "targeted_answered"
