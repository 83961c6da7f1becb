from __future__ import annotations

import builtins
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

from forgetflow.data.loaders import DataInputError, LoadedSplit, load_request, load_split
from forgetflow.data.samples import samples_from_table, samples_table
from forgetflow.records import Sample

TEXTS = [{"sample_id": "a", "text": "Name: A\nEmail: a@x"}, {"sample_id": "b", "text": "Name: B"}]
QAS = [
    {
        "sample_id": "q1",
        "question": "Where does Ana work?",
        "answer": "Brightline",
        "repetitions": None,
    },  # unknown
    {"sample_id": "q2", "question": "Who is Bo?", "answer": "A painter", "repetitions": 4},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write(tmp_path: Path, fmt: str, rows: list[dict]) -> Path:
    """`rows` in format `fmt` (txt: the texts, one per line)."""
    if fmt == "jsonl":
        return write_jsonl(tmp_path / "d.jsonl", rows)
    path = tmp_path / ("saved" if fmt == "dataset" else f"d.{fmt}")
    if fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt == "csv":
        Dataset.from_list(rows).to_csv(str(path), index=False)
    elif fmt == "txt":
        path.write_text("".join(r["text"].replace("\n", " ") + "\n\n" for r in rows))
    else:
        Dataset.from_list(rows).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet", "csv", "dataset"])
def test_every_format_loads_the_same_text_samples(tmp_path: Path, fmt: str) -> None:
    loaded = load_split(write(tmp_path, fmt, TEXTS), "forget", cache_dir=tmp_path / "cache")
    assert loaded.kind == "text"
    assert loaded.samples == tuple(Sample(r["sample_id"], "forget", r["text"]) for r in TEXTS)


@pytest.mark.parametrize("fmt", ["parquet", "txt"])
def test_reading_prints_nothing_where_print_is_logged(tmp_path, fmt, monkeypatch) -> None:
    """Prefect's log_prints replaces `print`: reading a file must not print (datasets hashing a
    table through dill printed a disassembly into every ingest's log)."""
    path = write(tmp_path, fmt, TEXTS)
    printed: list[tuple] = []
    monkeypatch.setattr(builtins, "print", lambda *args, **kwargs: printed.append(args))
    loaded = load_split(path, "forget", cache_dir=tmp_path / "cache")
    assert len(loaded.samples) == 2 and printed == []


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet", "dataset"])
def test_qa_rows_are_stated_and_become_question_prompts_and_answer_texts(tmp_path, fmt) -> None:
    loaded = load_split(write(tmp_path, fmt, QAS), "holdout", cache_dir=tmp_path / "cache")
    assert loaded == LoadedSplit(
        (
            Sample("q1", "holdout", " Brightline", -1, "Question: Where does Ana work?\nAnswer:"),
            Sample("q2", "holdout", " A painter", 4, "Question: Who is Bo?\nAnswer:"),
        ),
        "qa",
        str(loaded.path),
    )


def test_txt_is_one_text_per_line_with_made_up_ids(tmp_path: Path) -> None:
    loaded = load_split(write(tmp_path, "txt", TEXTS), "retain")
    assert loaded.kind == "text"
    assert [(s.sample_id, s.text) for s in loaded.samples] == [
        ("retain-0000", "Name: A Email: a@x"),
        ("retain-0001", "Name: B"),
    ]


def test_ids_are_made_up_when_absent_and_exposures_kept(tmp_path: Path) -> None:
    rows = [{"text": "one", "repetitions": 4}, {"text": "two", "repetitions": 0}]
    loaded = load_split(write_jsonl(tmp_path / "d.jsonl", rows), "retain")
    assert [(s.sample_id, s.repetitions) for s in loaded.samples] == [
        ("retain-0000", 4),
        ("retain-0001", 0),
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_qa_rows_untrained_paraphrases_come_with_it(tmp_path: Path, fmt: str) -> None:
    rows = [{"sample_id": "q1", "question": "Where does Ana work?", "answer": "Brightline",
             "paraphrased_questions": ["Ana works where?", "Ana's employer?", "Who pays Ana?"],
             "trained_paraphrases": 2},
            {"sample_id": "q2", "question": "Who is Bo?", "answer": "A painter",
             "paraphrased_questions": ["Bo is who?"], "trained_paraphrases": None}]  # fmt: skip
    loaded = load_split(write(tmp_path, fmt, rows), "forget")
    assert [s.paraphrases for s in loaded.samples] == [("Who pays Ana?",), ("Bo is who?",)]


def test_the_samples_table_round_trips_prompts_sources_and_paraphrases() -> None:
    samples = [Sample("a", "forget", " x", 2, "Question: q\nAnswer:", paraphrases=("q?", "Q?")),
               Sample("b#1", "forget", "y", source_id="b")]  # fmt: skip
    table = samples_table(samples)
    assert table.column_names[-3:] == ["prompt", "source_id", "paraphrases"]
    assert samples_from_table(table) == samples
    assert samples_table([]).num_rows == 0


def test_a_request_states_one_kind_and_refuses_mixed_kinds(tmp_path: Path) -> None:
    text = write_jsonl(tmp_path / "text.jsonl", TEXTS)
    qa = write_jsonl(tmp_path / "qa.jsonl", QAS)
    loaded = load_request({"forget": qa, "holdout": qa})
    assert {s: one.kind for s, one in loaded.items()} == {"forget": "qa", "holdout": "qa"}
    with pytest.raises(DataInputError) as raised:
        load_request({"forget": text, "holdout": qa})
    assert str(raised.value) == (
        f"the splits of one request mix text and QA rows: forget text ({text}), holdout qa "
        f"({qa}); give every split the same kind"
    )


JSONL_ERRORS = {
    "malformed": ('{"text": "a"}\n{oops\n', "line 2: malformed JSON"),
    "not an object": ('{"text": "a"}\n[1, 2]\n', "line 2: not a JSON object"),
    "empty file": ("", "no rows (the file is empty)"),
    "no text column": ('{"body": "x"}\n', "needs a 'text' column or 'question' and 'answer'"),
    "half a QA row": ('{"question": "x"}\n', "needs a 'text' column or 'question' and 'answer'"),
    "duplicate ids": ('{"sample_id": "a", "text": "x"}\n' * 2, "duplicate sample_id ['a']"),
    "blank text": ('{"sample_id": "a", "text": "x"}\n{"sample_id": "b", "text": " "}\n',
                   "row 1 (sample 'b') has no text"),
    "blank answer": ('{"question": "q", "answer": ""}\n',
                     "row 0 (sample 'forget-0000') has no answer"),
    "null id": ('{"sample_id": "a", "text": "x"}\n{"sample_id": null, "text": "y"}\n',
                "row 1 has no sample_id"),
    "bad repetitions": ('{"text": "x", "repetitions": "often"}\n', "has repetitions 'often'"),
    "paraphrases not a list": ('{"question": "q", "answer": "a", "paraphrased_questions": "q2"}\n',
                               "has paraphrased_questions 'q2'"),
    "blank paraphrase": ('{"question": "q", "answer": "a", "paraphrased_questions": ["q2", ""]}\n',
                         "has paraphrased_questions ['q2', '']"),
    "too many trained": ('{"question": "q", "answer": "a", "paraphrased_questions": ["q2"], '
                         '"trained_paraphrases": 2}\n', "has trained_paraphrases 2"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(JSONL_ERRORS))
def test_each_bad_input_is_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    content, message = JSONL_ERRORS[case]
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(DataInputError) as raised:
        load_split(path, "forget")
    line = str(raised.value)
    assert "\n" not in line and line.startswith(str(path)) and message in line, line
    assert "; " in line  # what to do follows what is wrong


def test_bad_paths_formats_and_folders_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "d.xml").write_text("<a/>")
    (tmp_path / "plain").mkdir()
    DatasetDict({"a": Dataset.from_list(TEXTS), "b": Dataset.from_list(TEXTS)}).save_to_disk(
        str(tmp_path / "several")
    )
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "none.parquet")
    cases = {
        "missing.jsonl": "does not exist",
        "d.xml": "unsupported format",
        "plain": "not a saved HF dataset",
        "several": "holds several splits ['a', 'b']; point at one",
        "none.parquet": "no rows (the forget split is empty)",
    }
    for name, message in cases.items():
        with pytest.raises(DataInputError) as raised:
            load_split(tmp_path / name, "forget")
        assert "\n" not in str(raised.value) and message in str(raised.value), name
