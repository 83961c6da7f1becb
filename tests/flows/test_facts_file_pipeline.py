"""A facts request from a user's own facts file through `forgetflow run --config`: the tiny
world's model stands for the user's model and a few of its facts, written as the user's JSONL,
for the facts to cut. Its request reaches the audit's targeted questions with no retain model;
UnSTAR on it needs a model to write its roles, which templates cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from flows.cli import app
from forgetflow.paths import resolve_paths
from forgetflow.scenarios.world.fact_draw import candidates, probes_of
from storage.tracking import default_tracking_uri

TARGETS = 2


def fact_line(row: dict, subject: list[dict], obj: list[dict]) -> dict:
    """A world fact as the user's line: its untrained paraphrase, its perturbed answers as
    alternatives, two keep-probes about the subject and one about the object."""
    sides = (("subject", subject[:2]), ("object", obj[:1]))
    keep = [{"question": r["question"], "answer": r["answer"], "about": about}
            for about, rows in sides for r in rows]  # fmt: skip
    return {"subject": row["subject"], "relation": row["relation"], "answer": row["answer"],
            "question": row["question"], "alternatives": row["perturbed_answers"],
            "paraphrases": row["paraphrased_questions"][row["trained_paraphrases"]:][:1],
            "keep": keep}  # fmt: skip


def user_files(world, folder: Path) -> dict[str, str]:  # noqa: ANN001
    """TARGETS of the world's strong retained facts with their probes (no fact a probe of
    another) as facts.jsonl, and its holdout facts as holdout.jsonl."""
    rows = world.table("qa").to_pylist()
    lines, taken = [], set()
    for row in sorted(candidates(rows, 8), key=lambda r: r["item_id"]):
        subject, obj = probes_of(row, rows)
        own = {r["item_id"] for r in subject[:2] + obj[:1]} | {row["item_id"]}
        if len(subject) >= 2 and obj and not own & taken and len(lines) < TARGETS:
            lines.append(json.dumps(fact_line(row, subject, obj)))
            taken |= own
    holdout = [json.dumps({"question": r["question"], "answer": r["answer"]}) for r in rows
               if r["split"] == "holdout" and r["family"] == "qa"]  # fmt: skip
    (folder / "facts.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "holdout.jsonl").write_text("\n".join(holdout) + "\n")
    return {"facts": "facts.jsonl", "holdout": "holdout.jsonl"}


def run(folder: Path, payload: dict, capsys) -> tuple[int, str]:  # noqa: ANN001
    path = folder / "facts-file.yaml"
    path.write_text(yaml.safe_dump(payload))
    code = app(["run", "--config", str(path)], standalone_mode=False) or 0
    return code, "".join(capsys.readouterr())


def test_a_users_facts_file_reaches_the_audit_with_no_retain_model(
    prefect_harness, tiny_world, session_home, tmp_path, capsys, quick_utility
) -> None:
    data = {"kind": "facts_file", "model": str(tiny_world.model_dir),
            **user_files(tiny_world, tmp_path)}  # fmt: skip
    code, output = run(tmp_path, {
        "name": "facts-file", "home": str(session_home), "data": data,
        "scoring": {"metrics": ["ma", "loss"]}, "antisamples": {"builders": []},
        "unlearning": {"method": {"name": "grad_diff", "antisample_weight": 0.0},
                       "training": {"steps": 2, "batch_size": 2}},
        "audit": {"mia_attacks": ["loss"], "carlini": None, "stresses": []},
        "utility": quick_utility,
    }, capsys)  # fmt: skip
    assert code == 0, output
    client = MlflowClient(default_tracking_uri(resolve_paths(session_home).mlflow_db))
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("forgetflow").experiment_id],
        filter_string="tags.mlflow.runName = 'facts-file'",
    )
    assert parent.info.status == "FINISHED" and parent.data.params["input.kind"] == "qa"
    (request,) = (resolve_paths(session_home).requests).glob("facts-file-*/request.json")
    stored = json.loads(request.read_text())
    assert [t["target_id"] for t in stored["targets"]] == ["fact-0001", "fact-0002"]
    assert stored["generator"] is None
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    audit = next(r for r in children if r.info.run_name == "audit").data.metrics
    for variant in ("before", "after"):
        for group in ("targeted:rephrase", "targeted:noisy"):
            assert 0.0 <= audit[f"audit/{variant}/{group}/targeted_answered"] <= 1.0, group
        for group in ("keep_subject", "keep_object"):
            assert 0.0 <= audit[f"audit/{variant}/{group}/keep_answered"] <= 1.0, group
    assert not [key for key in audit if key.startswith("audit/retain_model/")]


@pytest.mark.parametrize("builders", [[], ["unstar"]], ids=["in-unlearning", "in-stage-2"])
def test_unstar_roles_from_templates_on_a_users_facts_are_one_line(
    prefect_harness, tiny_world, session_home, tmp_path, capsys, builders
) -> None:
    """Round 0 written in the unlearning stage or in stage 2: the same one line."""
    data = {"kind": "facts_file", "model": str(tiny_world.model_dir),
            **user_files(tiny_world, tmp_path)}  # fmt: skip
    unstar = {"name": "unstar", "roles": {"questions": {"generator": "template"}}}
    code, output = run(tmp_path, {
        "name": "facts-file-unstar", "home": str(session_home), "data": data,
        "scoring": {"metrics": ["ma"]}, "antisamples": {"builders": builders},
        "unlearning": {"method": unstar},
    }, capsys)  # fmt: skip
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, output
    assert "template" in errors[0] and "questions" in errors[0]
