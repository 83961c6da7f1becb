"""THE loader of user data: text rows (`text`) or QA rows (`question`, `answer`) from JSONL, JSON,
Parquet, CSV, TXT (one text per line) or a saved HF dataset directory.

`sample_id` and `repetitions` are optional (ids are made up as `<split>-0000`). The kind (text or
qa) is detected from the columns and returned with the samples. A QA row becomes a sample whose
prompt is its question in the QA template and whose text is " " + its answer (lm/prompts.py);
its optional `paraphrased_questions` (a list of strings) beyond the first `trained_paraphrases`
(default 0: none was trained on) are its untrained paraphrases, which the audit asks.
Every problem is one `DataInputError` line: what is wrong, where, what to do.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from forgetflow.hashing import file_sha256
from forgetflow.lm.prompts import qa_prompt
from forgetflow.records import Sample

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".txt": "txt"}
Kind = Literal["text", "qa"]
KIND_COLUMNS: dict[str, tuple[str, ...]] = {"text": ("text",), "qa": ("question", "answer")}


class DataInputError(ValueError):
    """A data file is missing, unreadable or lacks what a split needs."""


@dataclass(frozen=True)
class LoadedSplit:
    """The samples of one split file, the kind of its rows and where they came from."""

    samples: tuple[Sample, ...]
    kind: Kind
    path: str


def check_jsonl(path: Path) -> None:
    """Name the first malformed line of a JSONL file by its number."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataInputError(
                    f"{path} line {number}: malformed JSON ({err.msg}); "
                    "write one JSON object per line"
                ) from err
            if not isinstance(row, dict):
                raise DataInputError(
                    f"{path} line {number}: not a JSON object; write one object per line"
                )


def read_txt(path: Path) -> Dataset:
    """One text per non-empty line (a newline inside a text cannot be written in TXT)."""
    texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return Dataset(pa.table({"text": pa.array(texts, pa.string())}), fingerprint=file_sha256(path))


def read_parquet(path: Path) -> Dataset:
    """The file's rows. Its fingerprint is the file's sha256: left to `datasets`, it hashes the
    table through dill, whose disassembly of a helper then prints to the log wherever `print` is
    redirected (Prefect's log_prints)."""
    try:
        return Dataset(pq.read_table(path), fingerprint=file_sha256(path))
    except (pa.ArrowException, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataInputError(f"{path}: cannot be read as parquet ({reason})") from err


def read_dataset(path: Path, cache_dir: Path | None = None) -> Dataset:
    """The rows of a file or a saved dataset directory, as a `datasets.Dataset`."""
    if not path.exists():
        raise DataInputError(f"data path {path} does not exist; check the path")
    if path.is_dir():
        try:
            loaded = load_from_disk(str(path))
        except FileNotFoundError as err:
            raise DataInputError(
                f"{path}: a folder that is not a saved HF dataset; point at a file or a "
                "Dataset.save_to_disk folder"
            ) from err
        if isinstance(loaded, DatasetDict):
            raise DataInputError(f"{path} holds several splits {list(loaded)}; point at one")
        return loaded
    builder = FORMATS.get(path.suffix.lower())
    if builder is None:
        raise DataInputError(f"{path}: unsupported format; use one of {sorted(FORMATS)}")
    if not path.read_bytes().strip():
        raise DataInputError(f"{path}: no rows (the file is empty); give it at least one sample")
    if builder == "txt":
        return read_txt(path)
    if builder == "parquet":  # pyarrow directly: datasets cannot read a Parquet of no rows
        return read_parquet(path)
    if path.suffix.lower() == ".jsonl":
        check_jsonl(path)
    try:
        cache = str(cache_dir) if cache_dir else None
        return load_dataset(builder, data_files=str(path), split="train", cache_dir=cache)
    except Exception as err:  # datasets raises many types for one cause: unreadable input
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataInputError(f"{path}: cannot be read as {builder} ({reason})") from err


def detect_kind(path: Path, columns: list[str]) -> Kind:
    """text when there is a `text` column, qa when `question` and `answer`; else one error."""
    if "text" in columns:
        return "text"
    if {"question", "answer"} <= set(columns):
        return "qa"
    raise DataInputError(
        f"{path}: needs a 'text' column or 'question' and 'answer' columns (columns: "
        f"{sorted(columns)}); rename the columns"
    )


def row_sample(path: Path, split: str, kind: Kind, index: int, row: Mapping) -> Sample:
    """One row as a Sample; `index` is its row number (0-based) for the error line."""
    sample_id = row.get("sample_id", f"{split}-{index:04d}")
    if sample_id is None or not str(sample_id).strip():
        raise DataInputError(f"{path}: row {index} has no sample_id; give every row one or none")
    sample_id = str(sample_id)
    for column in KIND_COLUMNS[kind]:
        value = row[column]
        if not isinstance(value, str) or not value.strip():
            raise DataInputError(
                f"{path}: row {index} (sample {sample_id!r}) has no {column}; "
                "fill it or drop the row"
            )
    reps = row.get("repetitions")
    try:
        reps = -1 if reps is None else int(reps)
    except (TypeError, ValueError) as err:
        raise DataInputError(
            f"{path}: row {index} (sample {sample_id!r}) has repetitions {reps!r}; "
            "give a whole number or leave it out"
        ) from err
    if kind == "qa":
        paraphrases = untrained_paraphrases(path, index, sample_id, row)
        return Sample(sample_id, split, " " + row["answer"], reps, qa_prompt(row["question"]),
                      paraphrases=paraphrases)  # fmt: skip
    return Sample(sample_id, split, row["text"], reps)


def untrained_paraphrases(path: Path, index: int, sample_id: str, row: Mapping) -> tuple[str, ...]:
    """A QA row's paraphrased questions past its first `trained_paraphrases` (see the module)."""
    where = f"{path}: row {index} (sample {sample_id!r})"
    given = row.get("paraphrased_questions")
    given = [] if given is None else given
    listed = isinstance(given, list | tuple)
    if not listed or not all(isinstance(q, str) and q.strip() for q in given):
        raise DataInputError(
            f"{where} has paraphrased_questions {given!r}; give a list of non-empty questions"
        )
    trained = row.get("trained_paraphrases")
    trained = 0 if trained is None else trained
    if isinstance(trained, bool) or not isinstance(trained, int) or not 0 <= trained <= len(given):
        raise DataInputError(
            f"{where} has trained_paraphrases {trained!r}; give a whole number from 0 to "
            f"{len(given)} (how many of its paraphrased_questions, from the first, were trained on)"
        )
    return tuple(given[trained:])


def load_split(path: str | Path, split: str, cache_dir: Path | None = None) -> LoadedSplit:
    """The samples of one split file and their kind (text or qa)."""
    path = Path(path)
    dataset = read_dataset(path, cache_dir)
    if len(dataset) == 0:
        raise DataInputError(f"{path}: no rows (the {split} split is empty); give it samples")
    kind = detect_kind(path, dataset.column_names)
    samples = tuple(row_sample(path, split, kind, i, row) for i, row in enumerate(dataset))
    duplicates = sorted(i for i, n in Counter(s.sample_id for s in samples).items() if n > 1)
    if duplicates:
        raise DataInputError(
            f"{path}: duplicate sample_id {duplicates[:5]}; give every row its own id"
        )
    return LoadedSplit(samples, kind, str(path))


def load_request(
    files: Mapping[str, str | Path], cache_dir: Path | None = None
) -> dict[str, LoadedSplit]:
    """Every split of one erasure request; all of one kind (a text forget set is not
    calibrated by a QA holdout), else one error naming the splits and their kinds."""
    loaded = {split: load_split(path, split, cache_dir) for split, path in files.items()}
    kinds = {split: one.kind for split, one in loaded.items()}
    if len(set(kinds.values())) > 1:
        named = ", ".join(f"{split} {kind} ({loaded[split].path})" for split, kind in kinds.items())
        raise DataInputError(
            f"the splits of one request mix text and QA rows: {named}; "
            "give every split the same kind"
        )
    return loaded
