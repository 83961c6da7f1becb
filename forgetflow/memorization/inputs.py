"""Samples to score from a user file: text rows (`sample_id`, `text`) or QA rows (`sample_id`,
`question`, `answer`), in JSONL, JSON, Parquet, CSV or a saved HF dataset.

Every problem is one `DataInputError` naming the file and the line, sample or column at fault.
JSONL is checked line by line first, so that a malformed line is named by its number.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from forgetflow.data.loaders import DataInputError, read_dataset
from forgetflow.records import Sample

QA_TEMPLATE = "Question: {question}\nAnswer:"  # the answer follows after one space


def check_jsonl(path: Path) -> None:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataInputError(f"{path} line {number}: malformed JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise DataInputError(f"{path} line {number}: not a JSON object")


def read_samples(path: Path, split: str, qa_template: str = QA_TEMPLATE) -> list[Sample]:
    """The samples of one file; QA rows become prompt = the template filled with the question,
    text = " " + answer (so the answer's tokens are scored given the question)."""
    if path.is_file() and not path.read_bytes().strip():
        raise DataInputError(f"{path}: no rows (the file is empty)")
    if path.is_file() and path.suffix.lower() == ".jsonl":
        check_jsonl(path)
    dataset = read_dataset(path)
    columns = set(dataset.column_names)
    if len(dataset) == 0:
        raise DataInputError(f"{path}: no rows")
    if "sample_id" not in columns:
        raise DataInputError(f"{path}: no 'sample_id' column (columns: {sorted(columns)})")
    qa = "text" not in columns
    if qa and not {"question", "answer"} <= columns:
        raise DataInputError(
            f"{path}: needs a 'text' column or 'question' and 'answer' columns "
            f"(columns: {sorted(columns)})"
        )
    fields = ("question", "answer") if qa else ("text",)
    samples = []
    for index, row in enumerate(dataset):
        sample_id = row["sample_id"]
        if sample_id is None or str(sample_id).strip() == "":
            raise DataInputError(f"{path}: row {index} has no sample_id")
        sample_id = str(sample_id)
        for field in fields:
            value = row[field]
            if not isinstance(value, str) or not value.strip():
                raise DataInputError(f"{path}: sample {sample_id!r} has no {field}")
        reps = int(row["repetitions"]) if row.get("repetitions") is not None else -1
        if qa:
            prompt = qa_template.format(question=row["question"])
            samples.append(Sample(sample_id, split, " " + row["answer"], reps, prompt))
        else:
            samples.append(Sample(sample_id, split, row["text"], reps))
    duplicates = sorted(i for i, n in Counter(s.sample_id for s in samples).items() if n > 1)
    if duplicates:
        raise DataInputError(f"{path}: duplicate sample_id {duplicates[:5]}")
    return samples
