"""`forgetflow audit`: the per-sample table and the summary of a model beside its retain model,
and bad input as one error line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from forgetflow.schemas import table_schema


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def files(tiny_world, tmp_path) -> dict[str, Path]:
    def rows(split: str, count: int) -> list[dict]:
        table = pq.read_table(tiny_world.splits[split]).to_pylist()[:count]
        return [{"sample_id": r["sample_id"], "text": r["text"]} for r in table]

    return {split: write_jsonl(tmp_path / f"{split}.jsonl", rows(split, 12))
            for split in ("forget", "retain", "holdout")}  # fmt: skip


def test_audits_a_model_beside_its_retain_model(invoke, tiny_world, files, tmp_path) -> None:
    out = tmp_path / "audit"
    code, output = invoke("audit", "--model", str(tiny_world.model_dir),
                          "--forget", str(files["forget"]), "--holdout", str(files["holdout"]),
                          "--retain", str(files["retain"]),
                          "--retain-model", str(tiny_world.retain_model_dir),
                          "--samples", "2", "--out", str(out))  # fmt: skip
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == ["audit_samples.parquet", "audit_summary.json"]
    table = pq.read_table(out / "audit_samples.parquet")
    assert table.schema.equals(table_schema("audit_samples").schema, check_metadata=False)
    summary = json.loads((out / "audit_summary.json").read_text())
    assert set(summary["variants"]) == {"model", "retain_model"}
    model = summary["variants"]["model"]
    for key in ("extraction_greedy", "leak_at_2", "field_leaks", "forgotten_share",
                "mia_auc_reference", "tpr_at_1pct_fpr_neighbour", "privleak"):  # fmt: skip
        assert key in model, key
    # the target saw its forget set, the retain model did not
    assert model["mia_auc_loss"] > summary["variants"]["retain_model"]["mia_auc_loss"]
    assert summary["model_verdict"] in ("pass", "fail")
    assert f"model verdict: {summary['model_verdict']}" in output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--forget": "missing.jsonl"}, "missing.jsonl"),
        ({"--stresses": "int3"}, "unknown stress 'int3'"),
        ({"--backend": "tgi"}, "--backend must be hf or vllm"),
        ({"--model": "no-such-model"}, "no-such-model"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    invoke, tiny_world, files, tmp_path, change, message
) -> None:
    out = tmp_path / "audit"
    args = {"--model": str(tiny_world.model_dir), "--forget": str(files["forget"]),
            "--holdout": str(files["holdout"]), "--out": str(out)} | {
        k: str(tmp_path / v) if k in ("--forget", "--model") else v for k, v in change.items()
    }  # fmt: skip
    code, output = invoke("audit", *[part for pair in args.items() for part in pair])
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0], output
    assert not out.exists()


def test_an_out_folder_holding_files_is_refused(invoke, tiny_world, files, tmp_path) -> None:
    out = tmp_path / "audit"
    out.mkdir()
    (out / "audit_summary.json").write_text("{}")
    code, output = invoke("audit", "--model", str(tiny_world.model_dir),
                          "--forget", str(files["forget"]), "--holdout", str(files["holdout"]),
                          "--out", str(out))  # fmt: skip
    assert code == 2 and "is not an empty folder" in output
    assert (out / "audit_summary.json").read_text() == "{}"
