"""`forgetflow score`: per-sample scores to Parquet, outliers against a holdout, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.cli import app
from forgetflow.data.loaders import load_split
from forgetflow.memorization.windows import window_samples
from forgetflow.models.io import load_tokenizer


def invoke(capsys, *args: str) -> tuple[int, str]:
    code = app(list(args), standalone_mode=False)
    captured = capsys.readouterr()
    return code or 0, captured.out + captured.err


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def files(tiny_world, tmp_path) -> dict[str, Path]:
    forget = pq.read_table(tiny_world.splits["forget"]).to_pylist()
    top = [r for r in forget if r["repetitions"] in (1, 32)][:8]
    holdout = pq.read_table(tiny_world.splits["holdout"]).to_pandas().head(12)
    holdout[["sample_id", "text"]].to_csv(tmp_path / "holdout.csv", index=False)
    return {"forget": write_jsonl(tmp_path / "forget.jsonl", top),
            "holdout": tmp_path / "holdout.csv"}  # fmt: skip


def test_scores_every_sample_with_one_column_per_metric(tiny_world, files, tmp_path, capsys):
    out = tmp_path / "scores.parquet"
    code, output = invoke(capsys, "score", "--model", str(tiny_world.model_dir),
                          "--data", str(files["forget"]), "--out", str(out),
                          "--metrics", "ma,loss,zlib,min_k_20,min_kpp_20,extract_k8",
                          "--holdout", str(files["holdout"]))  # fmt: skip
    assert code == 0, output
    table = pq.read_table(out)
    assert table.column_names == ["sample_id", "ma", "loss", "zlib", "min_k_20", "min_kpp_20",
                                  "extract_k8", "outlier"]  # fmt: skip
    rows = {r["sample_id"]: r for r in table.to_pylist()}
    reps = {json.loads(line)["sample_id"]: json.loads(line)["repetitions"]
            for line in files["forget"].read_text().splitlines()}  # fmt: skip
    assert set(rows) == set(reps)
    flagged = {r: [rows[i]["outlier"] for i, rr in reps.items() if rr == r] for r in (1, 32)}
    assert all(flagged[32]) and sum(flagged[1]) < len(flagged[1])  # the most exposed all stand out
    count = sum(rows[i]["outlier"] for i in rows)
    assert f"outliers (ma beyond the holdout quantile:0.95): {count}" in output  # the default
    loose = tmp_path / "loose.parquet"
    code, output = invoke(
        capsys,
        "score",
        "--model",
        str(tiny_world.model_dir),
        "--data",
        str(files["forget"]),
        "--out",
        str(loose),
        "--metrics",
        "ma",
        "--holdout",
        str(files["holdout"]),
        "--threshold",
        "mean",
    )
    assert code == 0, output
    loose_rows = pq.read_table(loose).to_pylist()
    assert sum(r["outlier"] for r in loose_rows) >= count  # half the non-members lie beyond a mean
    assert f"beyond the holdout mean): {sum(r['outlier'] for r in loose_rows)}" in output


def test_qa_rows_are_scored_on_their_answers(tiny_world, tmp_path, capsys) -> None:
    qa = [q for q in tiny_world.table("qa").to_pylist() if q["family"] == "qa"][:6]
    data = write_jsonl(tmp_path / "qa.jsonl", [
        {"sample_id": q["sample_id"], "question": q["question"], "answer": q["answer"]}
        for q in qa])  # fmt: skip
    out = tmp_path / "qa.parquet"
    code, output = invoke(capsys, "score", "--model", str(tiny_world.model_dir), "--data",
                          str(data), "--out", str(out), "--metrics", "ma,loss")  # fmt: skip
    assert code == 0, output
    assert f"data: qa rows ({data})" in output  # the detected kind is stated
    table = pq.read_table(out)
    assert table.num_rows == 6 and "outlier" not in table.column_names
    assert all(0.0 <= v <= 1.0 for v in table["ma"].to_pylist())


BAD_INPUTS = {
    "malformed line": ('{"sample_id": "a", "text": "Name: A"}\n{oops\n', "line 2: malformed JSON"),
    "missing column": ('{"sample_id": "a", "body": "Name: A"}\n', "needs a 'text' column"),
    "empty file": ("", "no rows"),
    "duplicate ids": ('{"sample_id": "a", "text": "Name: A B"}\n' * 2, "duplicate sample_id"),
    "null sample_id": ('{"sample_id": null, "text": "Name: A"}\n', "row 0 has no sample_id"),
    "empty text": ('{"sample_id": "a", "text": " "}\n', "row 0 (sample 'a') has no text"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_data_is_one_line_exit_2_and_no_output(tiny_world, tmp_path, capsys, case) -> None:
    content, message = BAD_INPUTS[case]
    data = tmp_path / "data.jsonl"
    data.write_text(content)
    out = tmp_path / "scores.parquet"
    code, output = invoke(capsys, "score", "--model", str(tiny_world.model_dir), "--data",
                          str(data), "--out", str(out), "--metrics", "ma")  # fmt: skip
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0], output
    assert not out.exists() and list(tmp_path.glob(".scores*")) == []


def test_bad_requests_are_one_line_exit_2(tiny_world, files, tmp_path, capsys) -> None:
    out = tmp_path / "scores.parquet"
    short = write_jsonl(tmp_path / "short.jsonl", [{"sample_id": "tiny", "text": "Hi"}])
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Who?", "answer": "Ann"}])
    cases = [
        (["--model", str(tiny_world.model_dir), "--data", str(files["forget"]), "--metrics",
          "ma,bogus"], "bogus"),
        (["--model", str(tmp_path / "nomodel"), "--data", str(files["forget"])],
         "not an HF model directory"),
        (["--model", str(tiny_world.model_dir), "--data", str(tmp_path / "none.jsonl")],
         "does not exist"),
        (["--model", str(tiny_world.model_dir), "--data", str(short), "--metrics", "el_10"],
         "tiny"),
        (["--model", str(tiny_world.model_dir), "--data", str(files["forget"]), "--holdout",
          str(files["holdout"]), "--threshold", "median"], "--threshold"),
        (["--model", str(tiny_world.model_dir), "--data", str(files["forget"]), "--holdout",
          str(qa)], "mix text and QA rows"),
    ]  # fmt: skip
    for args, message in cases:
        code, output = invoke(capsys, "score", *args, "--out", str(out))
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and message in errors[0], (args, output)
        assert not out.exists()


def test_long_texts_are_scored_in_the_windows_ingest_makes(tiny_world, files, tmp_path, capsys):
    out = tmp_path / "windows.parquet"
    code, output = invoke(capsys, "score", "--model", str(tiny_world.model_dir),
                          "--data", str(files["forget"]), "--out", str(out),
                          "--metrics", "ma,loss", "--window", "40")  # fmt: skip
    assert code == 0, output
    records = load_split(files["forget"], "forget").samples
    windows = window_samples(records, load_tokenizer(tiny_world.model_dir), 40)
    assert pq.read_table(out)["sample_id"].to_pylist() == [w.sample_id for w in windows]
    assert len(windows) > len(records)  # every record: 76..102 tokens
