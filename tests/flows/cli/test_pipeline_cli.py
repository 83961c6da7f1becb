"""`forgetflow run --config` on a user-style config written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.tracking import MlflowClient
from transformers import GPT2Config

from flows.cli import app
from forgetflow.paths import resolve_paths
from storage.tracking import default_tracking_uri


def invoke(capsys, *args: str) -> tuple[int, str]:
    """Call the CLI in-process without swapping sys.stdout (Prefect's log handler holds it)."""
    code = app(list(args), standalone_mode=False)
    captured = capsys.readouterr()
    return code or 0, captured.out + captured.err


def user_files(world, folder: Path) -> dict[str, str]:
    """The world's splits as a user would hand them: JSONL, CSV and Parquet."""
    forget = pq.read_table(world.splits["forget"]).to_pylist()
    (folder / "forget.jsonl").write_text("".join(json.dumps(r) + "\n" for r in forget))
    retain = pq.read_table(world.splits["retain"]).to_pandas()
    retain.to_csv(folder / "retain.csv", index=False)
    return {
        "forget": "forget.jsonl",
        "retain": "retain.csv",
        "holdout": str(world.splits["holdout"]),
    }


def write_config(folder: Path, payload: dict) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(payload))
    return path


def test_run_with_a_config_file(
    prefect_harness, tiny_world, session_home, tmp_path, capsys, quick_utility, forget_pii
) -> None:
    files = user_files(tiny_world, tmp_path)
    config = write_config(tmp_path, {
        "name": "cli-user-run",
        "home": str(session_home),
        "data": {"kind": "files", "model": str(tiny_world.model_dir), **files},
        "unlearning": {"method": {"forget_weight": 0.2, "retain_weight": 2.0},
                       "training": {"steps": 40, "lr": 1e-3}},
        # no retain model here: no reference attack; the audit's cost is not what this tests
        "audit": {"mia_attacks": ["loss"], "carlini": None, "stresses": []},
        "utility": quick_utility,  # nor the utility's
    })  # fmt: skip
    code, output = invoke(capsys, "run", "--config", str(config))
    assert code == 0, output
    assert "report:" in output and "mlflow:" in output
    # the end says where to look, and that no verdict was judged (neither min_kpp_20 nor the
    # reference attack ran)
    assert "mlflow ui --backend-store-uri sqlite:///" in output
    assert "model verdict: not judged" in output
    assert not [value for value in forget_pii if value in output]  # no email, phone or SSN
    client = MlflowClient(default_tracking_uri(resolve_paths(session_home).mlflow_db))
    (run,) = client.search_runs(
        [client.get_experiment_by_name("forgetflow").experiment_id],
        filter_string="tags.mlflow.runName = 'cli-user-run'",
    )
    assert run.info.status == "FINISHED"
    page = f"/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}?workflowType="
    assert f"mlflow page:    http://127.0.0.1:5000{page}machine_learning" in output
    assert run.data.metrics["report/after/forget/extraction_drop_points"] >= 50
    assert run.data.params["config.data.forget"] == str(tmp_path / "forget.jsonl")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"nmae": "typo"}, "nmae"),
        ({"unlearning": {"training": {"steps": 0}}}, "steps"),
        ({"data": {"kind": "files", "model": "m"}}, "forget"),
        (
            {"data": {"kind": "facts_file", "model": "m", "holdout": "h.jsonl"}},
            "data.facts_file.facts is missing: a facts_file source names a model, a facts file",
        ),
        ({"audit": {"mia_attacks": ["lossy"]}}, "unknown membership attack 'lossy'"),
    ],
)
def test_invalid_configs_exit_2_with_the_reason(
    tmp_path: Path, payload: dict, message: str, capsys
) -> None:
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, payload)))
    assert code == 2
    assert message in output


def test_a_files_source_without_its_holdout_is_one_line(tiny_world, tmp_path, capsys) -> None:
    files = user_files(tiny_world, tmp_path)
    data = {"kind": "files", "model": str(tiny_world.model_dir), **files}
    for holdout, message in (
        (None, "data.files.holdout is missing"),
        ("gone.jsonl", f"holdout data {tmp_path / 'gone.jsonl'} does not"),
    ):
        payload = {"data": {**data, "holdout": holdout} if holdout else
                   {k: v for k, v in data.items() if k != "holdout"}}  # fmt: skip
        code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, payload)))
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and message in errors[0], output
        assert len(output.strip().splitlines()) == 1, output


def test_missing_config_file(tmp_path: Path, capsys) -> None:
    code, output = invoke(capsys, "run", "--config", str(tmp_path / "none.yaml"))
    assert code == 2 and "does not exist" in output


def test_missing_model_or_data_fails_cleanly(
    prefect_harness, tiny_world, session_home, tmp_path, capsys
) -> None:
    files = user_files(tiny_world, tmp_path)
    base = {"home": str(session_home), "name": "bad-input"}
    no_model = {**base, "data": {"kind": "files", "model": str(tmp_path / "nomodel"), **files}}
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, no_model)))
    assert code == 2 and "not an HF model directory" in output
    no_data = {**base, "data": {"kind": "files", "model": str(tiny_world.model_dir),
                                **files, "retain": "missing.csv"}}  # fmt: skip
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, no_data)))
    assert code == 2 and "does not exist" in output


def test_malformed_data_fails_the_run_with_one_line(
    prefect_harness, tiny_world, session_home, tmp_path, capsys
) -> None:
    files = user_files(tiny_world, tmp_path)
    (tmp_path / "broken.jsonl").write_text('{"text": "a"}\n{not json\n')
    payload = {"home": str(session_home), "name": "malformed-input",
               "data": {"kind": "files", "model": str(tiny_world.model_dir), **files,
                        "forget": "broken.jsonl"}}  # fmt: skip
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, payload)))
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jsonl line 2: malformed JSON" in errors[0]


def test_a_facts_request_the_world_cannot_fill_is_one_line(
    prefect_harness, tiny_world, session_home, tmp_path, capsys
) -> None:
    payload = {"home": str(session_home), "name": "too-many-facts",
               "data": {"kind": "facts", "targets": 500, "answered_on": "question"},
               "antisamples": {"builders": []},
               "unlearning": {"method": {"name": "unstar"}}}  # fmt: skip
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, payload)))
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "of 500 targets" in errors[0] and "fewer targets" in errors[0]
    # nothing half-written: every request folder there is complete, and no staging folder is left
    folders = list((tiny_world.root / "requests").glob("*"))
    assert all((folder / "request.json").is_file() for folder in folders), folders


def test_unstar_on_a_sequences_request_is_one_line(
    prefect_harness, tiny_world, session_home, tmp_path, capsys
) -> None:
    payload = {"home": str(session_home), "name": "unstar-on-records",
               "scoring": {"metrics": ["ma"]}, "antisamples": {"builders": []},
               "unlearning": {"method": {"name": "unstar"}}}  # fmt: skip
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, payload)))
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs a facts request" in errors[0]


def test_an_unstar_role_past_the_target_models_positions_is_one_line(
    prefect_harness, tiny_world, session_home, tmp_path, capsys
) -> None:
    """The tiny world's GPT-2 takes 128 positions, too few for UnSTAR's question prompts and the
    questions asked: the run ends on one line that names the role to change, no traceback."""
    roles = {"questions": {"generator": "target"}, "answers": {"generator": "template"},
             "rationales": {"generator": "template"}}  # fmt: skip
    payload = {"home": str(session_home), "name": "unstar-questions-by-target",
               "scoring": {"metrics": ["ma"]}, "antisamples": {"builders": []},
               "data": {"kind": "facts", "targets": 2, "answered_on": "question"},
               "unlearning": {"method": {"name": "unstar", "roles": roles}}}  # fmt: skip
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, payload)))
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, output
    assert "the model takes 128" in errors[0] and "max_tokens=" in errors[0], output
    assert "unlearning.method.roles.questions.generator to template" in errors[0], output
    assert "Traceback" not in output, output


FACT = {"subject": "Ana Ruiz", "relation": "works_at", "answer": "Brightline",
        "question": "Where does Ana Ruiz work?",
        "keep": [{"question": "Where was Ana Ruiz born?", "answer": "Lyon", "about": "subject"},
                 {"question": "What does Ana Ruiz study?", "answer": "Law", "about": "subject"},
                 {"question": "Where is Brightline based?", "answer": "Leeds",
                  "about": "object"}]}  # fmt: skip


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("{not json", "facts.jsonl line 2: malformed JSON"),
        (json.dumps({k: v for k, v in FACT.items() if k != "answer"}), "line 2: no answer"),
        (json.dumps({**FACT, "keep": []}), "line 2: no keep-probe about the subject"),
    ],
)
def test_a_bad_facts_file_is_one_line_before_any_run(
    tmp_path, capsys, second: str, message: str
) -> None:
    first = {**FACT, "subject": "Bo Lee", "question": "Where does Bo Lee work?",
             "keep": [{**k, "question": k["question"].replace("Ana Ruiz", "Bo Lee")
                                                     .replace("Brightline", "Acme")}
                      for k in FACT["keep"]]}  # fmt: skip
    (tmp_path / "facts.jsonl").write_text(json.dumps(first) + "\n" + second + "\n")
    (tmp_path / "holdout.jsonl").write_text(json.dumps({"question": "q?", "answer": "a"}) + "\n")
    GPT2Config(n_layer=1, n_embd=8, n_head=1).save_pretrained(tmp_path / "model")  # no weights:
    # the file is checked before any model loads
    payload = {"data": {"kind": "facts_file", "model": "model", "facts": "facts.jsonl",
                        "holdout": "holdout.jsonl"}}  # fmt: skip
    code, output = invoke(capsys, "run", "--config", str(write_config(tmp_path, payload)))
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0], output
    assert str(tmp_path / "facts.jsonl") in errors[0]
    assert len(output.strip().splitlines()) == 1, output  # nothing ran: no Prefect, no MLflow
