"""Utility sets from files: general text's halves, QA rows, and one error line per bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgetflow.utility.sets import (
    QAItem,
    TextSet,
    UtilityInputError,
    read_qa_file,
    read_text_file,
    split_general,
    write_qa_file,
)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_text_files_give_their_passages(tmp_path: Path) -> None:
    txt = read_text_file(write_lines(tmp_path / "a.txt", ["one passage", "", "  two  "]))
    rows = [json.dumps({"text": "x y"}), json.dumps({"text": "z"})]
    jsonl = read_text_file(write_lines(tmp_path / "b.jsonl", rows))
    assert txt.passages == ("one passage", "two") and txt.name == "a"
    assert jsonl.passages == ("x y", "z")


def test_the_halves_are_disjoint_cover_everything_and_follow_the_seed() -> None:
    passages = [TextSet("a", tuple(f"a{k}" for k in range(7)), "a.txt"),
                TextSet("b", tuple(f"b{k}" for k in range(4)), "b.txt")]  # fmt: skip
    guard, held = split_general(passages, seed=3)
    assert len(guard.passages) == 5 and len(held.passages) == 6
    assert sorted(guard.passages + held.passages) == sorted(
        passages[0].passages + passages[1].passages
    )
    assert split_general(passages, seed=3) == (guard, held)
    assert split_general(passages, seed=4) != (guard, held)


def test_qa_rows_round_trip(tmp_path: Path) -> None:
    items = [QAItem("q1", "Where?", "Paris", "It is in Paris.", ("Rome", "Oslo"),
                    ("Oslo", "Paris", "Rome"), ("In which city?",), 8),
             QAItem("q2", "Who?", "Ana")]  # fmt: skip
    write_qa_file(tmp_path / "facts.jsonl", items)
    read = read_qa_file(tmp_path / "facts.jsonl", "retain")
    assert read.items == tuple(items) and read.name == "facts" and read.role == "retain"


def test_ids_are_made_up_where_rows_have_none(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "f.jsonl", [json.dumps({"question": "Q?", "answer": "A"})])
    assert read_qa_file(path, "retain").items[0].item_id == "f-0001"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"answer": "A"}, "line 1: `question` must be a non-empty string"),
        ({"question": "Q?", "answer": " "}, "line 1: `answer` must be a non-empty string"),
        ({"question": "Q?", "answer": "A", "perturbed_answers": "B"},
         "`perturbed_answers` must be a list"),
        ({"question": "Q?", "answer": "A", "choices": ["B", "C"]},
         "the answer is not one of `choices`"),
        ({"question": "Q?", "answer": "A", "repetitions": -2}, "`repetitions` must be an integer"),
        ({"question": "Q?", "answer": "A", "anser": "B"}, "unknown field(s) ['anser']"),
    ],
)  # fmt: skip
def test_a_bad_qa_row_is_one_line_naming_its_line(tmp_path: Path, row: dict, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(row)])
    with pytest.raises(UtilityInputError) as err:
        read_qa_file(path, "retain")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "no such file"),
        ("short.txt", "only one\n", "1 passage(s)"),
        ("data.csv", "text\nx\n", "is .txt or .jsonl"),
        ("broken.jsonl", '{"text": "a"}\n{oops\n', "line 2: malformed JSON"),
        ("notext.jsonl", '{"text": "a"}\n{"body": "b"}\n', "line 2: no string `text`"),
    ],
)
def test_a_bad_text_file_is_one_line(tmp_path: Path, name: str, content: str | None,
                                     message: str) -> None:  # fmt: skip
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UtilityInputError) as err:
        read_text_file(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_duplicate_id_and_an_empty_file_are_refused(tmp_path: Path) -> None:
    row = json.dumps({"id": "x", "question": "Q?", "answer": "A"})
    with pytest.raises(UtilityInputError, match="occurs twice"):
        read_qa_file(write_lines(tmp_path / "dup.jsonl", [row, row]), "retain")
    with pytest.raises(UtilityInputError, match="no QA rows"):
        read_qa_file(write_lines(tmp_path / "empty.jsonl", [""]), "retain")
