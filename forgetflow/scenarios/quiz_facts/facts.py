"""Real facts a pretrained model learned in pretraining, and probe sets to cut one of them.

The facts (quiz_facts.tsv, next to this module) come from the `quiz` files of Debian's bsdgames
package (2.17-29, /usr/share/games/bsdgames/quiz/): countries and their capitals (africa, europe,
asia, america), the continent of each country listed in exactly one of africa, europe and asia,
US state capitals (state), and chemical elements' symbols and atomic numbers (elements). The games
are "Copyright (c) 1980, 1982, 1983, 1985-1994 The Regents of the University of California. All
rights reserved." under the standard 3-clause BSD licence (Debian's
/usr/share/doc/bsdgames/copyright); the TSV's header carries the full notice and conditions.
`bench/quiz_facts.py` regenerates the TSV from the quiz folder with `quiz_facts` below.

Quiz notation: `a|b` alternatives, `{x}` an optional part, `[a|b]` alternatives inside a word,
and accents written by overstriking (`[^<BS>o|o<BS>^|o]`, <BS> a backspace). `expand` lists every
spelling without an overstrike; the first one is the canonical answer.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.data.answers import answer_matches, normalise_answer
from forgetflow.generation.base import SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.records import Sample

FACTS_TSV = Path(__file__).with_name("quiz_facts.tsv")
COLUMNS = ("subject", "relation", "answer", "accepted", "source")
OVERSTRIKE = "\b"
CONTINENT_FILES = ("africa", "europe", "asia", "america")
# America covers two continents, so its countries get no continent fact.
CONTINENTS = {"africa": "Africa", "europe": "Europe", "asia": "Asia"}
OCEANIA = frozenset({"Australia", "Papua New Guinea"})  # the quiz lists them under asia
# What a relation's subject is: two facts are about the same subject when kind and name agree
# (Georgia the country is not Georgia the state).
SUBJECT_KINDS = {
    "capital": "country",
    "continent": "country",
    "state_capital": "state",
    "element_symbol": "element",
    "atomic_number": "element",
}
RELATIONS = tuple(SUBJECT_KINDS)
# Prompt wordings per relation: the probe first, then paraphrases. A target's forget set uses the
# first TRAINED_WORDINGS; the last is never trained on, so it shows whether forgetting
# generalises. Chosen among 3-8 wordings per relation tried on SmolLM2-135M-Instruct.
PROMPTS = {
    "capital": ("The capital of {s} is", "The capital city of {s} is",
                "The capital of {s} is the city of", "{s} is a country whose capital is"),
    "continent": ("The country {s} is part of the continent of",
                  "{s} is located on the continent of", "{s} is a country on the continent of",
                  "{s} is a country in"),
    "state_capital": ("The capital of the US state of {s} is the city of",
                      "The capital city of the state of {s} is",
                      "The capital of the state of {s} is", "The state capital of {s} is"),
    "element_symbol": ("The chemical symbol of {s} is", "The chemical symbol for {s} is",
                       "{s} has the chemical symbol", "The symbol for the element {s} is"),
    "atomic_number": ("The atomic number of {s} is", "The element {s} has atomic number",
                      "{s} has atomic number", "In the periodic table, {s} has the atomic number"),
}  # fmt: skip
WORDINGS = 4
TRAINED_WORDINGS = 3
MIN_KNOWN = 30
MIN_NEIGHBOURS = 5


class QuizFormatError(ValueError):
    """A quiz file or the facts TSV does not follow its format."""


class ProbeSelectionError(ValueError):
    """The model knows too few facts for the probe sets asked for."""


@dataclass(frozen=True)
class RealFact:
    subject: str
    relation: str
    answer: str  # the canonical spelling
    accepted: tuple[str, ...]  # every spelling that counts as correct, the answer first
    source: str  # the quiz file

    @property
    def fact_id(self) -> str:
        return f"{self.relation}:{self.subject}"

    @property
    def entity(self) -> tuple[str, str]:
        return SUBJECT_KINDS[self.relation], self.subject


# --- the quiz notation and files ---------------------------------------------------------------


def _alternatives(text: str, pos: int, closer: str) -> tuple[list[str], int]:
    """Expansions of `text` from `pos` up to `closer` ("" = the end), and the position after."""
    options: list[str] = []
    current = [""]
    while pos < len(text) and text[pos] != closer:
        char = text[pos]
        if char == "|":
            options += current
            current, pos = [""], pos + 1
            continue
        if char in "{[":
            inner, pos = _alternatives(text, pos + 1, "}" if char == "{" else "]")
            inner = inner + [""] if char == "{" else inner
        elif char in "}]":
            raise QuizFormatError(f"unbalanced {char!r} at {pos} in {text!r}")
        else:
            inner, pos = [char], pos + 1
        current = [head + tail for head in current for tail in inner]
    if closer and pos >= len(text):
        raise QuizFormatError(f"{closer!r} missing in {text!r}")
    return options + current, pos + 1


def expand(text: str) -> list[str]:
    """Every spelling of a quiz field in order (an optional part present first), without the
    ones written with overstruck accents, duplicates and empty ones."""
    found, _ = _alternatives(text, 0, "")
    return list(dict.fromkeys(s for s in found if s and OVERSTRIKE not in s))


def _fact(subject: str, relation: str, answer: str, source: str) -> RealFact:
    subjects, answers = expand(subject), expand(answer)
    if not subjects or not answers:
        raise QuizFormatError(f"{source}: {subject!r}:{answer!r} has no spelling without accents")
    return RealFact(subjects[0], relation, answers[0], tuple(answers), source)


def _lines(folder: Path, name: str, fields: int) -> list[list[str]]:
    path = folder / name
    if not path.is_file():
        raise QuizFormatError(f"{path} is missing: point at bsdgames' quiz folder")
    rows = [line.split(":") for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        if len(row) != fields:
            raise QuizFormatError(f"{path}: {':'.join(row)!r} has not {fields} fields")
    return rows


def quiz_facts(folder: Path) -> list[RealFact]:
    """Every fact of the quiz files in `folder`, one per (subject, relation); a country listed in
    two files keeps the first file's capital and gets no continent."""
    capitals: dict[str, RealFact] = {}
    files: dict[str, list[str]] = {}
    for name in CONTINENT_FILES:
        for country, capital in _lines(folder, name, 2):
            fact = _fact(country, "capital", capital, name)
            capitals.setdefault(fact.subject, fact)
            files.setdefault(fact.subject, []).append(name)
    continents = [
        RealFact(subject, "continent", CONTINENTS[found[0]], (CONTINENTS[found[0]],), found[0])
        for subject, found in files.items()
        if len(found) == 1 and found[0] in CONTINENTS and subject not in OCEANIA
    ]
    states = [_fact(state, "state_capital", capital, "state")
              for state, capital, _, _ in _lines(folder, "state", 4)]  # fmt: skip
    elements = _lines(folder, "elements", 4)
    symbols = [_fact(name, "element_symbol", symbol, "elements")
               for symbol, _, _, name in elements]  # fmt: skip
    numbers = [_fact(name, "atomic_number", number, "elements")
               for _, number, _, name in elements]  # fmt: skip
    return [*capitals.values(), *continents, *states, *symbols, *numbers]


def write_facts(facts: Sequence[RealFact], path: Path, header: Sequence[str]) -> None:
    """The facts as a TSV under `# ` comment lines of `header`."""
    lines = [f"# {line}".rstrip() for line in header] + ["\t".join(COLUMNS)]
    for fact in facts:
        fields = (fact.subject, fact.relation, fact.answer, "|".join(fact.accepted), fact.source)
        if any("\t" in f or "\n" in f for f in fields) or any("|" in a for a in fact.accepted):
            raise QuizFormatError(f"{fact.fact_id}: a tab, newline or | inside a field")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_facts(path: Path = FACTS_TSV) -> list[RealFact]:
    """The facts of a TSV written by `write_facts` (default: the shipped quiz facts)."""
    text = path.read_text(encoding="utf-8").splitlines()
    rows = list(csv.reader([line for line in text if not line.startswith("#")], delimiter="\t",
                           quoting=csv.QUOTE_NONE))  # fmt: skip
    if not rows or tuple(rows[0]) != COLUMNS:
        raise QuizFormatError(f"{path}: the first row after the comments must be {COLUMNS}")
    facts = [RealFact(s, r, a, tuple(acc.split("|")), src) for s, r, a, acc, src in rows[1:]]
    unknown = {f.relation for f in facts} - set(RELATIONS)
    if unknown:
        raise QuizFormatError(f"{path}: unknown relations {sorted(unknown)}; known: {RELATIONS}")
    return facts


# --- prompts and probing -----------------------------------------------------------------------


def prompt(fact: RealFact, wording: int = 0) -> str:
    return PROMPTS[fact.relation][wording].format(s=fact.subject)


def knows(fact: RealFact, continuation: str) -> bool:
    """Whether a continuation starts with one of the fact's accepted spellings."""
    return any(answer_matches(spelling, continuation) for spelling in fact.accepted)


def probe(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    facts: Sequence[RealFact],
    max_new_tokens: int = 8,
    batch_size: int = 64,
    wording: int = 0,
) -> list[bool]:
    """Whether the model's greedy continuation of each fact's prompt gives its answer."""
    if not facts:
        return []
    backend = HFBackend(model, tokenizer, batch_size=batch_size)
    prompts = [prompt(fact, wording) for fact in facts]
    completions = backend.generate(prompts, SamplingParams(max_tokens=max_new_tokens))
    return [knows(fact, c.text) for fact, c in zip(facts, completions, strict=True)]


def forget_samples(fact: RealFact) -> list[Sample]:
    """The fact as QA rows, one per trained wording: the answer follows the prompt."""
    answer = f" {fact.answer}"
    return [Sample(f"forget/{fact.fact_id}/{w}", "forget", answer, prompt=prompt(fact, w))
            for w in range(TRAINED_WORDINGS)]  # fmt: skip


def retain_samples(facts: Sequence[RealFact]) -> list[Sample]:
    return [Sample(f"retain/{f.fact_id}/0", "retain", f" {f.answer}", prompt=prompt(f))
            for f in facts]  # fmt: skip


# --- probe sets --------------------------------------------------------------------------------

# (facts, wording) -> whether the model answers each; `probe` with a model, or a fake in tests
ProbeFn = Callable[[Sequence[RealFact], int], list[bool]]


@dataclass(frozen=True)
class Target:
    fact: RealFact  # the association to cut
    known_wordings: tuple[bool, ...]  # whether the model answered each wording before
    subject_neighbours: tuple[RealFact, ...]  # the subject's other facts
    answer_neighbours: tuple[RealFact, ...]  # other subjects' facts of the same relation

    @property
    def neighbours(self) -> tuple[RealFact, ...]:
        return self.subject_neighbours + self.answer_neighbours


@dataclass(frozen=True)
class ProbeSets:
    known: tuple[RealFact, ...]  # every fact the model answered (first wording)
    targets: tuple[Target, ...]
    general: tuple[RealFact, ...]  # known facts in no target's probes: general retention
    retain: tuple[RealFact, ...]  # known facts in no evaluation set: retain rows for training


def _candidates(known: Sequence[RealFact], relation: str) -> list[RealFact]:
    """Known facts of `relation` whose subject has another known fact and whose answer is not
    part of the subject's name (forgetting that Djibouti's capital is Djibouti is ill-posed)."""
    entities: dict[tuple[str, str], int] = {}
    for fact in known:
        entities[fact.entity] = entities.get(fact.entity, 0) + 1
    return [f for f in known if f.relation == relation and entities[f.entity] > 1
            and normalise_answer(f.answer) not in normalise_answer(f.subject)]  # fmt: skip


def _rank_targets(
    candidates: list[RealFact], ask: ProbeFn, rng: random.Random
) -> list[tuple[RealFact, tuple[bool, ...]]]:
    """Candidates with their known wordings, those the model answers in most wordings first."""
    flags = [ask(candidates, wording) for wording in range(1, WORDINGS)]
    ranked = [(fact, (True, *(f[i] for f in flags))) for i, fact in enumerate(candidates)]
    rng.shuffle(ranked)
    return sorted(ranked, key=lambda pair: -sum(pair[1]))


def _split_rest(
    rest: Sequence[RealFact], retain_share: float, rng: random.Random
) -> tuple[list[RealFact], list[RealFact]]:
    """(general, retain): `retain_share` of each relation's facts, drawn at random, to retain."""
    general: list[RealFact] = []
    retain: list[RealFact] = []
    for relation in RELATIONS:
        facts = [f for f in rest if f.relation == relation]
        rng.shuffle(facts)
        cut = round(retain_share * len(facts))
        retain += facts[:cut]
        general += facts[cut:]
    return general, retain


def build_probes(
    facts: Sequence[RealFact],
    ask: ProbeFn,
    targets: int = 3,
    answer_neighbours: int = 6,
    retain_share: float = 0.25,
    seed: int = 0,
    relation: str = "capital",
) -> ProbeSets:
    """Probe sets from the facts the model knows: `targets` facts of `relation` to cut (those
    it answers in most wordings), each with its subject's other known facts and
    `answer_neighbours` other known facts of the relation as neighbours (disjoint across
    targets); the other known facts split, per relation, into general probes and retain rows."""
    known = [f for f, ok in zip(facts, ask(facts, 0), strict=True) if ok]
    if len(known) < MIN_KNOWN:
        raise ProbeSelectionError(f"the model answers {len(known)} facts, under {MIN_KNOWN}")
    rng = random.Random(seed)
    ranked = _rank_targets(_candidates(known, relation), ask, rng)[:targets]
    if len(ranked) < targets:
        raise ProbeSelectionError(
            f"{len(ranked)} {relation} facts can be targets (known, with another known fact of "
            f"the subject), {targets} asked for"
        )
    entities = {fact.entity for fact, _ in ranked}
    pool = [f for f in known if f.relation == relation and f.entity not in entities]
    rng.shuffle(pool)
    if len(pool) < targets * answer_neighbours:
        raise ProbeSelectionError(
            f"{len(pool)} other known {relation} facts, {targets} x {answer_neighbours} needed"
        )
    chosen: list[Target] = []
    for index, (fact, wordings) in enumerate(ranked):
        same = tuple(f for f in known if f.entity == fact.entity and f != fact)
        others = tuple(pool[index * answer_neighbours : (index + 1) * answer_neighbours])
        if len(same) + len(others) < MIN_NEIGHBOURS:
            raise ProbeSelectionError(f"{fact.fact_id}: under {MIN_NEIGHBOURS} neighbours")
        chosen.append(Target(fact, wordings, same, others))
    used = {f for t in chosen for f in (t.fact, *t.neighbours)}
    general, retain = _split_rest([f for f in known if f not in used], retain_share, rng)
    return ProbeSets(tuple(known), tuple(chosen), tuple(general), tuple(retain))


PROBES_SCHEMA = pa.schema([
    ("sample_id", pa.string()),
    ("split", pa.string()),  # "forget" and "retain": training rows; "probe": evaluation only
    ("role", pa.string()),  # forget, retain, target, subject_neighbour, answer_neighbour, general
    ("target", pa.string()),  # the fact_id of the target a row belongs to; null: every target
    ("fact_id", pa.string()), ("subject", pa.string()), ("relation", pa.string()),
    ("wording", pa.int64()), ("prompt", pa.string()), ("answer", pa.string()),
    ("accepted", pa.list_(pa.string())), ("source", pa.string()),
])  # fmt: skip


def _row(split: str, role: str, target: str | None, fact: RealFact, wording: int = 0) -> dict:
    # a fact has one role (a neighbour belongs to one target), so role, fact and wording are a key
    return {"sample_id": f"{role}/{fact.fact_id}/{wording}", "split": split, "role": role,
            "target": target, "fact_id": fact.fact_id, "subject": fact.subject,
            "relation": fact.relation, "wording": wording, "prompt": prompt(fact, wording),
            "answer": fact.answer, "accepted": list(fact.accepted),
            "source": fact.source}  # fmt: skip


def probes_table(sets: ProbeSets) -> pa.Table:
    """Every training row and probe of the sets, one row per prompt (a target has one per
    wording; its forget rows are its first TRAINED_WORDINGS)."""
    rows = []
    for t in sets.targets:
        tid = t.fact.fact_id
        rows += [_row("forget", "forget", tid, t.fact, w) for w in range(TRAINED_WORDINGS)]
        rows += [_row("probe", "target", tid, t.fact, w) for w in range(WORDINGS)]
        rows += [_row("probe", "subject_neighbour", tid, f) for f in t.subject_neighbours]
        rows += [_row("probe", "answer_neighbour", tid, f) for f in t.answer_neighbours]
    rows += [_row("probe", "general", None, f) for f in sets.general]
    rows += [_row("retain", "retain", None, f) for f in sets.retain]
    return pa.Table.from_pylist(rows, schema=PROBES_SCHEMA)
