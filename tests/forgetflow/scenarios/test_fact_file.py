"""A user's facts file read line by line: what a good line gives, and every bad line as one
error naming the file and the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from forgetflow.data.loaders import DataInputError
from forgetflow.scenarios.fact_file import FactFileError, KeepPair, read_facts

FactLine = Callable[..., dict]  # the `fact` fixture: a good line, with changes


def test_a_good_file_gives_each_line_as_a_fact(fact: FactLine, write: Callable[..., Path]) -> None:
    extra = {"accepted": ["Brightline Ltd"], "alternatives": ["Northwind", "Globex"],
             "paraphrases": ["Which company employs Ana Ruiz 1?"]}  # fmt: skip
    path = write(fact(0), "", fact(1, **extra))
    first, second = read_facts(path)
    assert (first.line, second.line) == (1, 3)  # blank lines are skipped, numbers kept
    assert (first.fact_id, second.fact_id) == ("fact-0001", "fact-0003")
    assert first.accepted == first.alternatives == first.paraphrases == ()
    assert second.accepted == ("Brightline Ltd",) and second.alternatives == ("Northwind", "Globex")
    assert second.paraphrases == ("Which company employs Ana Ruiz 1?",)
    assert second.keep[2] == KeepPair("Where is Brightline 1 based?", "Leeds", "object")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: f(subject=None), "line 2: no subject; a fact needs subject, relation"),
        (lambda f: f(answer="  "), "line 2: answer '  ' is not a non-empty text"),
        (lambda f: f(question=3), "line 2: question 3 is not a non-empty text"),
        (lambda f: f(paraphrase=["x"]), "line 2: unknown field 'paraphrase'"),
        (lambda f: f(paraphrases="Which?"), "line 2: paraphrases 'Which?' is not a list"),
        (lambda f: f(alternatives=["brightline 0"]), "alternative 'brightline 0' is the answer"),
        (
            lambda f: f(paraphrases=["where does ana ruiz 0 work"]),
            "a paraphrase repeats the question",
        ),
        (lambda f: f(keep=None), "line 2: no keep-probe about the subject 'Ana Ruiz 0'"),
        (lambda f: f(keep=[]), "line 2: no keep-probe about the subject"),
        (lambda f: f(keep=f()["keep"][:2]), "no keep-probe about the object 'Brightline 0'"),
        (lambda f: f(keep=f()["keep"][2:]), "no keep-probe about the subject 'Ana Ruiz 0'"),
        (lambda f: f(keep={"question": "q"}), "line 2: keep {'question': 'q'} is not a list"),
        (lambda f: f(keep=[{"question": "q", "answer": "a", "about": "both"}]), "line 2 keep[0]"),
        (
            lambda f: f(keep=[{"question": "q", "answer": "a"}]),
            "must have exactly question, answer",
        ),
        (
            lambda f: f(keep=[{"question": "", "answer": "a", "about": "subject"}]),
            "keep[0]: question",
        ),
    ],
)
def test_a_bad_line_is_one_error_naming_its_line(
    fact: FactLine, write: Callable[..., Path], make: Callable[[FactLine], dict], message: str
) -> None:
    path = write(fact(9), make(fact))
    with pytest.raises(FactFileError) as caught:
        read_facts(path)
    assert str(caught.value).startswith(f"{path} line 2")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_malformed_unreadable_missing_and_empty_files(
    fact: FactLine, write: Callable[..., Path], tmp_path: Path
) -> None:
    path = write(fact(0), "{not json")
    with pytest.raises(DataInputError, match=r"facts.jsonl line 2: malformed JSON"):
        read_facts(path)
    write(fact(0), "[1, 2]")
    with pytest.raises(DataInputError, match=r"line 2: not a JSON object"):
        read_facts(path)
    path.write_bytes(b'{"subject": "\xff"}\n')
    with pytest.raises(FactFileError, match=r"cannot be read .*give a UTF-8 JSONL file"):
        read_facts(path)
    path.write_text("\n \n")
    with pytest.raises(FactFileError, match=r"no facts \(the file is empty\)"):
        read_facts(path)
    with pytest.raises(FactFileError, match=r"facts file .*gone.jsonl does not exist"):
        read_facts(tmp_path / "gone.jsonl")


def test_across_lines_a_fact_is_cut_or_kept_and_a_probe_belongs_to_one_fact(
    fact: FactLine, write: Callable[..., Path]
) -> None:
    twice = fact(1, question="WHERE does Ana Ruiz 0 work?")
    with pytest.raises(FactFileError, match=r"line 2: the question of line 1 again"):
        read_facts(write(fact(0), twice))
    cut_and_kept = fact(1, keep=[*fact(1)["keep"],
                                 {"question": "Where does Ana Ruiz 0 work?", "answer": "B",
                                  "about": "subject"}])  # fmt: skip
    with pytest.raises(FactFileError, match=r"line 2: keep-probe .* is line 1's fact to cut"):
        read_facts(write(fact(0), cut_and_kept))
    shared = fact(1, keep=[*fact(1)["keep"], fact(0)["keep"][0]])
    with pytest.raises(FactFileError, match=r"line 2: .* listed again \(first on line 1"):
        read_facts(write(fact(0), shared))


def test_a_file_with_no_keep_probe_to_train_is_one_error(
    fact: FactLine, write: Callable[..., Path]
) -> None:
    one_each = fact(0, keep=[fact()["keep"][0], fact()["keep"][2]])
    with pytest.raises(FactFileError, match=r"no keep-probe to train on .*two about one side"):
        read_facts(write(one_each))
    assert len(read_facts(write(one_each, fact(1)))) == 2  # fact 1 has two about one
