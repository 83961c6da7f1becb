from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from forgetflow.data.loaders import DataInputError, load_split, samples_from_table

ROWS = [{"sample_id": "a", "text": "Name: A\nEmail: a@x"}, {"sample_id": "b", "text": "Name: B"}]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv", "dataset"])
def test_every_format_loads_the_same_samples(tmp_path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    elif fmt == "parquet":
        path = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_pylist(ROWS), path)
    elif fmt == "csv":
        path = tmp_path / "d.csv"
        Dataset.from_list(ROWS).to_csv(str(path), index=False)
    else:
        path = tmp_path / "saved"
        Dataset.from_list(ROWS).save_to_disk(str(path))
    table = load_split(path, "forget", cache_dir=tmp_path / "cache")
    assert table.to_pylist() == [{"sample_id": r["sample_id"], "split": "forget",
                                  "text": r["text"], "repetitions": -1} for r in ROWS]  # fmt: skip
    assert [s.sample_id for s in samples_from_table(table)] == ["a", "b"]


def test_known_exposures_are_kept(tmp_path: Path) -> None:
    rows = [{"text": "one", "repetitions": 4}, {"text": "two", "repetitions": 0}]
    assert load_split(write_jsonl(tmp_path / "d.jsonl", rows), "retain")[
        "repetitions"
    ].to_pylist() == [4, 0]


def test_ids_are_made_up_when_absent(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "one"}, {"text": "two"}])
    assert load_split(path, "retain")["sample_id"].to_pylist() == ["retain-0000", "retain-0001"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"body": "x"}], "no 'text' column"),
        ([{"sample_id": "a", "text": "x"}, {"sample_id": "a", "text": "y"}], "duplicate sample_id"),
        ([{"sample_id": "a", "text": "x"}, {"sample_id": "b", "text": "  "}], "row 1"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, rows: list[dict], message: str) -> None:
    with pytest.raises(DataInputError, match=message):
        load_split(write_jsonl(tmp_path / "d.jsonl", rows), "forget")


def test_bad_paths_and_formats(tmp_path: Path) -> None:
    with pytest.raises(DataInputError, match="does not exist"):
        load_split(tmp_path / "missing.jsonl", "forget")
    (tmp_path / "d.txt").write_text("hello")
    with pytest.raises(DataInputError, match="unsupported format"):
        load_split(tmp_path / "d.txt", "forget")
    (tmp_path / "broken.jsonl").write_text('{"text": "a"}\n{not json\n')
    with pytest.raises(DataInputError, match="cannot be read"):
        load_split(tmp_path / "broken.jsonl", "forget")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataInputError):
        load_split(tmp_path / "empty.jsonl", "forget")
