"""User data in: JSONL, JSON, Parquet, CSV or a saved HF dataset, read through `datasets`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from forgetflow.records import Sample

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class DataInputError(ValueError):
    """A data file is missing, unreadable or lacks what a split needs."""


def read_dataset(path: Path, cache_dir: Path | None = None) -> Dataset:
    if not path.exists():
        raise DataInputError(f"data path {path} does not exist")
    if path.is_dir():
        loaded = load_from_disk(str(path))
        if isinstance(loaded, DatasetDict):
            raise DataInputError(f"{path} holds several splits {list(loaded)}; point at one")
        return loaded
    builder = FORMATS.get(path.suffix.lower())
    if builder is None:
        raise DataInputError(f"{path}: unsupported format; use one of {sorted(FORMATS)}")
    try:
        return load_dataset(
            builder,
            data_files=str(path),
            split="train",
            cache_dir=str(cache_dir) if cache_dir else None,
        )
    except Exception as err:  # datasets raises many types for one cause: unreadable input
        raise DataInputError(f"{path}: cannot be read as {builder}: {err}") from err


def load_split(path: str | Path, split: str, cache_dir: Path | None = None) -> pa.Table:
    """A `samples` table (sample_id, split, text) from a user file; ids made up when absent."""
    dataset = read_dataset(Path(path), cache_dir)
    if "text" not in dataset.column_names:
        raise DataInputError(f"{path}: no 'text' column (columns: {dataset.column_names})")
    if len(dataset) == 0:
        raise DataInputError(f"{path}: the {split} split is empty")
    texts = dataset["text"]
    if "sample_id" in dataset.column_names:
        ids = [str(i) for i in dataset["sample_id"]]
    else:
        ids = [f"{split}-{i:04d}" for i in range(len(texts))]
    for index, (sample_id, text) in enumerate(zip(ids, texts, strict=True)):
        if not isinstance(text, str) or not text.strip():
            raise DataInputError(f"{path}: row {index} ({sample_id}) has no text")
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise DataInputError(f"{path}: duplicate sample_id {duplicates[:5]}")
    repetitions = [-1] * len(ids)
    if "repetitions" in dataset.column_names:
        repetitions = [int(r) for r in dataset["repetitions"]]
    return pa.table({"sample_id": ids, "split": [split] * len(ids), "text": list(texts),
                     "repetitions": pa.array(repetitions, pa.int64())})  # fmt: skip


def samples_from_table(table: pa.Table) -> list[Sample]:
    columns = ["sample_id", "split", "text", "repetitions"]
    return [Sample(**row) for row in table.select(columns).to_pylist()]
