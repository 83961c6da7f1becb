"""`forgetflow run` on a quiz facts source: its model is checked before any run, a relative
model directory resolves against the config file, and a model that knows too few quiz facts
stops the run with one `error:` line (the tiny world's GPT-2 knows none)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


def run_config(invoke, folder: Path, payload: dict) -> tuple[int, list[str], str]:  # noqa: ANN001
    path = folder / "quiz.yaml"
    path.write_text(yaml.safe_dump(payload))
    code, output = invoke("run", "--config", str(path))
    return code, [line for line in output.splitlines() if line.startswith("error:")], output


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "data.quiz_facts.model is missing: a quiz_facts source names a model"),
        ({"model": "nowhere"}, "nowhere is not an HF model directory"),
    ],
)
def test_no_model_or_a_missing_one_is_one_line_before_any_run(
    invoke, tmp_path: Path, data: dict, message: str
) -> None:
    code, errors, output = run_config(invoke, tmp_path, {"data": {"kind": "quiz_facts", **data}})
    assert code == 2 and len(errors) == 1 and message in errors[0], output
    assert len(output.strip().splitlines()) == 1, output


def test_a_model_that_knows_too_few_quiz_facts_is_one_line(
    prefect_harness, invoke, tiny_world, session_home, tmp_path: Path
) -> None:
    (tmp_path / "model").symlink_to(tiny_world.model_dir)  # relative to the config file
    payload = {"name": "quiz-too-few", "home": str(session_home),
               "data": {"kind": "quiz_facts", "model": "model", "targets": 1},
               "antisamples": {"builders": []},
               "unlearning": {"method": {"name": "unstar"}}}  # fmt: skip
    code, errors, output = run_config(invoke, tmp_path, payload)
    assert code == 2 and len(errors) == 1, output
    found = tiny_world.model_dir.resolve()  # the config's relative path, resolved
    assert f"error: quiz facts of {found}: the model answers 0 facts, under" in errors[0]
    assert not list(Path(session_home, "requests").glob("quiz-*"))
