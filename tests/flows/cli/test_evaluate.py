"""`forgetflow evaluate`: the per-sample table and the summary of a model beside its retain
model on a scenario's or your own utility sets; bad input as one error line, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from forgetflow.schemas import table_schema


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.fixture()
def own_files(tiny_world, tmp_path) -> dict[str, Path]:
    """General text and one QA file of your own, and records as the forget set."""
    items = tiny_world.table("items").to_pylist()
    passages = [r["text"] for r in items if r["split"] == "background_eval"]
    qa = [{"question": "Where was Megan Chang born?", "answer": "Travisfurt",
           "perturbed_answers": ["Allenfort", "Grantside"],
           "choices": ["Allenfort", "Travisfurt", "Grantside"]},
          {"question": "Where does Megan Chang work?", "answer": "Ray LLC"}]  # fmt: skip
    forget = pq.read_table(tiny_world.splits["forget"]).to_pylist()[:4]
    return {"text": write_lines(tmp_path / "general.txt", passages),
            "qa": write_lines(tmp_path / "facts.jsonl", [json.dumps(r) for r in qa]),
            "forget": write_lines(tmp_path / "forget.jsonl",
                                  [json.dumps({"text": r["text"]}) for r in forget])}  # fmt: skip


def test_evaluates_a_model_beside_its_retain_model_on_your_files(
    invoke, tiny_world, own_files, tmp_path
) -> None:
    out = tmp_path / "utility"
    code, output = invoke("evaluate", "--model", str(tiny_world.model_dir),
                          "--retain-model", str(tiny_world.retain_model_dir),
                          "--forget", str(own_files["forget"]),
                          "--utility-text", str(own_files["text"]),
                          "--utility-qa", str(own_files["qa"]), "--out", str(out))  # fmt: skip
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == ["utility_samples.parquet",
                                                     "utility_summary.json"]  # fmt: skip
    table = pq.read_table(out / "utility_samples.parquet")
    assert table.schema.equals(table_schema("utility").schema, check_metadata=False)
    summary = json.loads((out / "utility_summary.json").read_text())
    assert set(summary["variants"]) == {"model", "retain_model"}
    model = summary["variants"]["model"]
    assert model["forget_quality_n"] == 4 * 6  # four records, six fields each
    assert model["mcq_n"] == 1 and model["general_ppl"] > 1
    assert (
        summary["sets"]["facts"]["role"] == "retain"
        and summary["sets"]["forget_records"]["n"] == 24
    )
    assert "forget_quality:" in output


def test_a_scenario_gives_its_sets_and_no_retain_model_states_why(
    invoke, tiny_world, tmp_path
) -> None:
    out = tmp_path / "utility"
    code, output = invoke("evaluate", "--model", str(tiny_world.model_dir), "--scenario",
                          str(tiny_world.root), "--out", str(out))  # fmt: skip
    assert code == 0, output
    summary = json.loads((out / "utility_summary.json").read_text())
    assert {"retain_facts", "objects", "holdout_facts", "forget_facts"} <= set(summary["sets"])
    assert summary["variants"]["model"]["absent"]["forget_quality"] == "no retain model was given"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nowhere"], "is no scenario"),
        (["--utility-qa", "MISSING.jsonl"], "no such file"),
        (["--utility-text", "BAD.csv"], "is .txt or .jsonl"),
        ([], "nothing to evaluate on"),
        (["--scenario", "tiny", "--utility-qa", "x.jsonl"], "not both"),
    ],
)
def test_bad_input_is_one_error_line_and_nothing_written(
    invoke, tiny_world, tmp_path, args: list[str], message: str
) -> None:
    out = tmp_path / "utility"
    code, output = invoke("evaluate", "--model", str(tiny_world.model_dir), "--out", str(out),
                          *[str(tmp_path / a) if a.isupper() or a.endswith((".jsonl", ".csv"))
                            and a != "x.jsonl" else a for a in args])  # fmt: skip
    assert code == 2
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], output
    assert not out.exists()
