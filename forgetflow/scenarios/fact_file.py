"""Your own facts to cut, from a JSONL file (`data: {kind: facts_file}`): one fact a line,

    {"subject": "Ana Ruiz", "relation": "works_at", "answer": "Brightline",
     "question": "Where does Ana Ruiz work?",
     "accepted": ["Brightline Ltd"], "alternatives": ["Northwind", "Globex"],
     "paraphrases": ["Which company employs Ana Ruiz?"],
     "keep": [{"question": "Where was Ana Ruiz born?", "answer": "Lyon", "about": "subject"},
              {"question": "In which city is Brightline based?", "answer": "Leeds",
               "about": "object"}]}

`subject`, `relation`, `answer` and `question` are required; `accepted` (other spellings of the
answer), `alternatives` (same-type wrong answers a falsified answer may be drawn from) and
`paraphrases` (untrained evaluation questions: no generator sees them) are optional lists.
The stage never invents facts about your subject or object: the keep-probes come from `keep`
alone, and each line needs one about its subject alone and one about its object alone. A
keep-probe is listed under one fact only, and is no fact to cut. Every problem is one
FactFileError line naming the file and the line.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from forgetflow.data.answers import normalise_answer
from forgetflow.data.loaders import DataInputError, check_jsonl

REQUIRED = ("subject", "relation", "answer", "question")
LISTS = ("accepted", "alternatives", "paraphrases")
FIELDS = (*REQUIRED, *LISTS, "keep")
KEEP_FIELDS = ("question", "answer", "about")
ABOUT = ("subject", "object")


class FactFileError(DataInputError):
    """A facts file is unreadable, or a line of it is not a fact with its keep-probes."""


@dataclass(frozen=True)
class KeepPair:
    """A keep-probe as the user gives it: a question about the subject or the object alone."""

    question: str
    answer: str
    about: str  # "subject" or "object"


@dataclass(frozen=True)
class UserFact:
    line: int  # its line number in the file (1-based)
    subject: str
    relation: str
    answer: str
    question: str
    accepted: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    paraphrases: tuple[str, ...] = ()
    keep: tuple[KeepPair, ...] = ()

    @property
    def fact_id(self) -> str:
        """Its target id and forget sample id: `fact-<line>`."""
        return f"fact-{self.line:04d}"


def text_field(where: str, row: Mapping, key: str) -> str:
    if key not in row:
        raise FactFileError(f"{where}: no {key}; a fact needs {', '.join(REQUIRED)} and keep")
    value = row[key]
    if not isinstance(value, str) or not value.strip():
        raise FactFileError(
            f"{where}: {key} {value!r} is not a non-empty text; write it as a JSON string"
        )
    return value.strip()


def text_list(where: str, row: Mapping, key: str) -> tuple[str, ...]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise FactFileError(f"{where}: {key} {value!r} is not a list of non-empty texts")
    return tuple(v.strip() for v in value)


def keep_pairs(where: str, row: Mapping, subject: str, answer: str) -> tuple[KeepPair, ...]:
    """The line's keep-probes: at least one about the subject and one about the object."""
    given = row.get("keep", [])
    if not isinstance(given, list) or not all(isinstance(k, dict) for k in given):
        raise FactFileError(f"{where}: keep {given!r} is not a list of objects {KEEP_FIELDS}")
    pairs = []
    for k, item in enumerate(given):
        at = f"{where} keep[{k}]"
        if set(item) != set(KEEP_FIELDS) or item["about"] not in ABOUT:
            raise FactFileError(f"{at}: {item!r} must have exactly question, answer and about "
                                f"(\"subject\" or \"object\")")  # fmt: skip
        pairs.append(KeepPair(text_field(at, item, "question"), text_field(at, item, "answer"),
                              item["about"]))  # fmt: skip
    for about, name in zip(ABOUT, (subject, answer), strict=True):
        if not any(p.about == about for p in pairs):
            raise FactFileError(
                f"{where}: no keep-probe about the {about} {name!r}; add to `keep` a question "
                f'about {name!r} alone with "about": "{about}" (the stage never invents facts)'
            )
    return tuple(pairs)


def parse_fact(path: Path, line: int, row: Mapping) -> UserFact:
    """One line as a fact; a wrong, missing or unknown field is one error naming the line."""
    where = f"{path} line {line}"
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise FactFileError(f"{where}: unknown field {unknown[0]!r}; the fields are {FIELDS}")
    subject, relation, answer, question = (text_field(where, row, k) for k in REQUIRED)
    accepted, alternatives, paraphrases = (text_list(where, row, k) for k in LISTS)
    spellings = {normalise_answer(a) for a in (answer, *accepted)}
    wrong = [a for a in alternatives if normalise_answer(a) in spellings]
    if wrong:
        raise FactFileError(f"{where}: alternative {wrong[0]!r} is the answer; alternatives are "
                            "wrong answers of the same type")  # fmt: skip
    if normalise_answer(question) in {normalise_answer(p) for p in paraphrases}:
        raise FactFileError(f"{where}: a paraphrase repeats the question; paraphrases are "
                            "other wordings, asked only in evaluation")  # fmt: skip
    keep = keep_pairs(where, row, subject, answer)
    return UserFact(line, subject, relation, answer, question, accepted, alternatives,
                    paraphrases, keep)  # fmt: skip


def file_lines(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) of every non-empty line; malformed JSON or a line that is no
    object names its line (the loader's check_jsonl)."""
    if not path.is_file():
        raise FactFileError(f"facts file {path} does not exist; check data.facts")
    try:
        check_jsonl(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FactFileError(f"{path}: cannot be read ({err}); give a UTF-8 JSONL file") from err
    rows = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not rows:
        raise FactFileError(f"{path}: no facts (the file is empty); write one fact per line")
    return [(n, json.loads(line)) for n, line in rows]


def cross_checks(path: Path, facts: Sequence[UserFact]) -> None:
    """No fact twice, no keep-probe that is a fact to cut or another fact's keep-probe (trained
    for one, it would count as kept for the other), and some keep-probe to train on."""
    owner: dict[str, int] = {}
    for fact in facts:
        asked = normalise_answer(fact.question)
        if asked in owner:
            raise FactFileError(f"{path} line {fact.line}: the question of line {owner[asked]} "
                                "again; give each fact once")  # fmt: skip
        owner[asked] = fact.line
    seen: dict[str, int] = {}
    for fact in facts:
        for pair in fact.keep:
            asked = normalise_answer(pair.question)
            where = f"{path} line {fact.line}: keep-probe {pair.question!r}"
            if asked in owner:
                raise FactFileError(f"{where} is line {owner[asked]}'s fact to cut; a fact is "
                                    "either cut or kept")  # fmt: skip
            if asked in seen:
                raise FactFileError(
                    f"{where} is listed again (first on line {seen[asked]}); list each "
                    "keep-probe once, under one fact (trained for one, it would count as kept "
                    "for the other)"
                )
            seen[asked] = fact.line
    if all(max(Counter(p.about for p in f.keep).values()) < 2 for f in facts):
        raise FactFileError(
            f"{path}: no keep-probe to train on (of each fact's probes about its subject, and "
            "about its object, half rounded down are trained); give some fact two about one side"
        )


def read_facts(path: str | Path) -> tuple[UserFact, ...]:
    """Every fact of a facts file, checked line by line, then across lines."""
    file = Path(path)
    facts = [parse_fact(file, line, row) for line, row in file_lines(file)]
    cross_checks(file, facts)
    return tuple(facts)
