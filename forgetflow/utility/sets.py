"""The evaluation sets utility measures on: data no unlearning method trains on.

- **General text**: passages (a TXT file, one passage per line, or JSONL rows with `text`), split
  once with a seed into a `guard` half (the unlearning loop's utility guard descends on nothing
  but may watch it) and an `eval` half (what utility reports). Neither half is ever trained on.
- **QA sets**: JSONL rows with `question` and `answer`, optional `id`, `paraphrased_questions`,
  `paraphrased_answer`, `perturbed_answers`, `choices` (a multiple-choice item: the answer is one
  of them) and `repetitions`. A set has a role: `retain` (what the model must keep: enters model
  utility where the before model answers at least half of it, or always where the scenario
  says the model was trained on it), `forget` (the erasure request's
  facts: forget quality and forget ROUGE-L) or `control` (facts no model saw: reported apart,
  never in model utility).

Every problem is one `UtilityInputError` line: what is wrong, where, what to do.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from forgetflow.lm.prompts import qa_prompt

Role = Literal["retain", "forget", "control"]
ROLES: tuple[Role, ...] = ("retain", "forget", "control")
QA_LIST_FIELDS = ("paraphrased_questions", "perturbed_answers", "choices")
QA_FIELDS = {"id", "question", "answer", "paraphrased_answer", "repetitions", *QA_LIST_FIELDS}


class UtilityInputError(ValueError):
    """A utility set's file is missing, malformed or lacks what a metric needs."""


@dataclass(frozen=True)
class QAItem:
    """One question with its answer and what the QA metrics need beside it: a paraphrased
    answer (the truth ratio's denominator; the answer itself when none), perturbed (wrong)
    answers, multiple-choice options, and how often training saw it (-1: unknown). A `context`
    (a record up to one of its fields) is asked as is, in place of the question's template."""

    item_id: str
    question: str
    answer: str
    paraphrased_answer: str = ""
    perturbed_answers: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    paraphrased_questions: tuple[str, ...] = ()
    repetitions: int = -1
    context: str = ""

    @property
    def prompt(self) -> str:
        """What the model is asked: the context, else the question in the QA template."""
        return self.context or qa_prompt(self.question)


@dataclass(frozen=True)
class QASet:
    """A QA set. A retain-side set enters model utility where the subject answers at least the
    qualifying share of it, unless it is not `gated` (a scenario's retain set, which the model
    was trained on, enters as TOFU's retain set does)."""

    name: str
    role: Role
    items: tuple[QAItem, ...]
    source: str  # the file, or the scenario, it came from
    gated: bool = True


@dataclass(frozen=True)
class TextSet:
    name: str
    passages: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class UtilitySets:
    """What utility evaluates: general text's two halves and the QA sets."""

    guard: TextSet
    eval: TextSet
    qa: tuple[QASet, ...] = ()

    def of_role(self, role: Role) -> list[QASet]:
        return [s for s in self.qa if s.role == role]

    def first_items(self, limit: int | None) -> UtilitySets:
        """These sets with at most `limit` items in each QA set (None: unchanged)."""
        if limit is None:
            return self
        qa = tuple(dataclasses.replace(s, items=s.items[:limit]) for s in self.qa)
        return dataclasses.replace(self, qa=qa)


def jsonl_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSONL file."""
    if not path.is_file():
        raise UtilityInputError(f"{path}: no such file; give an existing TXT or JSONL file")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UtilityInputError(
                f"{path} line {number}: malformed JSON ({err.msg}); write one JSON object per line"
            ) from err
        if not isinstance(row, dict):
            raise UtilityInputError(f"{path} line {number}: not a JSON object; write one per line")
        rows.append((number, row))
    return rows


def read_text_file(path: str | Path) -> TextSet:
    """General-text passages: a .txt file's non-blank lines or a .jsonl file's `text` values."""
    path = Path(path)
    if path.suffix not in (".txt", ".jsonl"):
        raise UtilityInputError(f"{path}: a utility text file is .txt or .jsonl; convert it")
    if path.suffix == ".txt":
        if not path.is_file():
            raise UtilityInputError(f"{path}: no such file; give an existing TXT or JSONL file")
        passages = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        passages = [text_of(path, number, row) for number, row in jsonl_rows(path)]
    passages = [p for p in passages if p]
    if len(passages) < 2:
        raise UtilityInputError(
            f"{path}: {len(passages)} passage(s); general text needs at least 2 (a guard half "
            "and an eval half)"
        )
    return TextSet(path.stem, tuple(passages), str(path))


def text_of(path: Path, number: int, row: Mapping) -> str:
    text = row.get("text")
    if not isinstance(text, str):
        raise UtilityInputError(f"{path} line {number}: no string `text`; give every row one")
    return text.strip()


def split_general(passages: Sequence[TextSet], seed: int) -> tuple[TextSet, TextSet]:
    """All passages, shuffled with `seed`, cut into a guard half and an eval half (the eval half
    takes the odd one)."""
    pooled = [p for one in passages for p in one.passages]
    random.Random(seed).shuffle(pooled)
    half = len(pooled) // 2
    source = ", ".join(one.source for one in passages)
    return TextSet("guard", tuple(pooled[:half]), source), TextSet(
        "eval", tuple(pooled[half:]), source
    )


def read_qa_file(path: str | Path, role: Role, name: str | None = None) -> QASet:
    """A QA set from a JSONL file (fields: see the module docstring)."""
    path = Path(path)
    if path.suffix != ".jsonl":
        raise UtilityInputError(f"{path}: a utility QA file is JSONL; convert it")
    items = [qa_item(path, number, row) for number, row in jsonl_rows(path)]
    if not items:
        raise UtilityInputError(f"{path}: no QA rows; give at least one question and answer")
    ids = [i.item_id for i in items]
    if len(set(ids)) != len(ids):
        raise UtilityInputError(f"{path}: an `id` occurs twice; make every id unique")
    return QASet(name or path.stem, role, tuple(items), str(path))


def qa_item(path: Path, number: int, row: Mapping) -> QAItem:
    where = f"{path} line {number}"
    unknown = sorted(set(row) - QA_FIELDS)
    if unknown:
        raise UtilityInputError(f"{where}: unknown field(s) {unknown}; known: {sorted(QA_FIELDS)}")
    texts = {}
    for field in ("question", "answer", "paraphrased_answer", "id"):
        value = row.get(field, "" if field in ("paraphrased_answer", "id") else None)
        if not isinstance(value, str) or (field in ("question", "answer") and not value.strip()):
            raise UtilityInputError(f"{where}: `{field}` must be a non-empty string")
        texts[field] = value.strip()
    lists = {field: string_list(where, field, row.get(field, [])) for field in QA_LIST_FIELDS}
    if lists["choices"] and texts["answer"] not in lists["choices"]:
        raise UtilityInputError(f"{where}: the answer is not one of `choices`; add it to them")
    repetitions = row.get("repetitions", -1)
    if not isinstance(repetitions, int) or isinstance(repetitions, bool) or repetitions < -1:
        raise UtilityInputError(f"{where}: `repetitions` must be an integer >= 0 (or -1: unknown)")
    return QAItem(texts["id"] or f"{path.stem}-{number:04d}", texts["question"], texts["answer"],
                  texts["paraphrased_answer"], lists["perturbed_answers"], lists["choices"],
                  lists["paraphrased_questions"], repetitions)  # fmt: skip


def string_list(where: str, field: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UtilityInputError(f"{where}: `{field}` must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def qa_rows(items: Sequence[QAItem]) -> list[dict]:
    """The JSONL rows of `items` (what read_qa_file reads back)."""
    return [{"id": i.item_id, "question": i.question, "answer": i.answer,
             "paraphrased_answer": i.paraphrased_answer,
             "perturbed_answers": list(i.perturbed_answers), "choices": list(i.choices),
             "paraphrased_questions": list(i.paraphrased_questions),
             "repetitions": i.repetitions} for i in items]  # fmt: skip


def write_qa_file(path: Path, items: Sequence[QAItem]) -> None:
    lines = (json.dumps(row, ensure_ascii=False) for row in qa_rows(items))
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
