from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from forgetflow.scenarios.quiz_facts.facts import (
    FACTS_TSV,
    MIN_KNOWN,
    MIN_NEIGHBOURS,
    PROBES_SCHEMA,
    PROMPTS,
    RELATIONS,
    TRAINED_WORDINGS,
    WORDINGS,
    ProbeSelectionError,
    ProbeSets,
    QuizFormatError,
    RealFact,
    build_probes,
    expand,
    forget_samples,
    knows,
    load_facts,
    probe,
    probes_table,
    prompt,
    quiz_facts,
    retain_samples,
    write_facts,
)

BS = "\b"


def test_expand_alternatives_optional_parts_and_in_word_choices() -> None:
    assert expand("Ireland|Eire") == ["Ireland", "Eire"]
    assert expand("Central Africa{n Rep{ublic}}") == [
        "Central African Republic", "Central African Rep", "Central Africa",
    ]  # fmt: skip
    assert expand("{DR |Democratic Republic of the }Congo") == [
        "DR Congo", "Democratic Republic of the Congo", "Congo",
    ]  # fmt: skip
    assert expand("Wars[aw|zawa]") == ["Warsaw", "Warszawa"]
    assert expand("Port[-| ]au[-| ]Prince")[0] == "Port-au-Prince"
    assert len(expand("Port[-| ]au[-| ]Prince")) == 4
    assert expand("P{'}yongyang") == ["P'yongyang", "Pyongyang"]  # a real apostrophe stays


def test_expand_drops_overstruck_accents() -> None:
    assert expand(f"Yaound['{BS}e|e{BS}'|e]") == ["Yaounde"]
    assert expand(f"C[^{BS}o|o{BS}^|o]te d'Ivoire") == ["Cote d'Ivoire"]
    assert expand(f"Mo[z|,{BS}c|c{BS},|c]ambique") == ["Mozambique", "Mocambique"]
    assert expand(f"Copenhagen|K[o|o{BS}/|/{BS}o]benhavn") == ["Copenhagen", "Kobenhavn"]
    assert expand(f"[°{BS}A|A{BS}°|A]land Islands") == ["Aland Islands"]


@pytest.mark.parametrize("text", ["Wars[aw|zawa", "Bern{e", "Bern}e", "a]b"])
def test_expand_rejects_unbalanced_brackets(text: str) -> None:
    with pytest.raises(QuizFormatError):
        expand(text)


def _quiz_folder(root: Path) -> Path:
    files = {
        "africa": ["Egypt:Cairo", "Kenya:Nairobi", f"Togo:Lom['{BS}e|e{BS}'|e]"],
        "europe": ["France:Paris", "Russia:Mos[cow|kva]", "Georgia:Tbilisi"],
        "asia": ["Russia:Moscow", "Egypt:Cairo", "Australia:Canberra", "Japan:Tokyo"],
        "america": ["Peru:Lima", "United States|US{A}:Washington{ DC}"],
        "state": [
            "Georgia|Ga:Atlanta:GA:{Cherokee }rose",
            "Minn{esota}|MN:Saint Paul|St Paul:MN:x",
        ],
        "elements": ["H:1:1.008:Hydrogen", "Fe:26:55.85:Iron"],
    }
    for name, lines in files.items():
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_quiz_facts_from_the_quiz_files(tmp_path: Path) -> None:
    facts = {f.fact_id: f for f in quiz_facts(_quiz_folder(tmp_path))}
    assert facts["capital:Russia"].accepted == ("Moscow", "Moskva")  # the first file's spellings
    assert facts["capital:Russia"].source == "europe"
    assert facts["capital:Togo"].answer == "Lome"
    assert facts["capital:United States"].accepted == ("Washington DC", "Washington")
    continents = {f.subject: f.answer for f in facts.values() if f.relation == "continent"}
    # in two files (Russia, Egypt), in America, or in Oceania: no continent
    assert continents == {"Kenya": "Africa", "Togo": "Africa", "France": "Europe",
                          "Georgia": "Europe", "Japan": "Asia"}  # fmt: skip
    assert facts["state_capital:Minnesota"].accepted == ("Saint Paul", "St Paul")
    assert facts["state_capital:Georgia"].entity != facts["capital:Georgia"].entity
    assert facts["element_symbol:Iron"].answer == "Fe"
    assert facts["atomic_number:Iron"].answer == "26"


def test_quiz_facts_name_a_missing_file(tmp_path: Path) -> None:
    (_quiz_folder(tmp_path) / "state").unlink()
    with pytest.raises(QuizFormatError, match="state is missing"):
        quiz_facts(tmp_path)


def test_written_facts_load_back(tmp_path: Path) -> None:
    quiz = tmp_path / "quiz"
    quiz.mkdir()
    facts = quiz_facts(_quiz_folder(quiz))
    path = tmp_path / "facts.tsv"
    write_facts(facts, path, ["source: a test", "", "licence: none"])
    assert path.read_text().startswith("# source: a test\n#\n# licence: none\nsubject\t")
    assert load_facts(path) == facts


def test_shipped_facts_cover_every_relation_without_duplicates() -> None:
    facts = load_facts()
    counts = Counter(f.relation for f in facts)
    assert set(counts) == set(RELATIONS) and min(counts.values()) >= 50
    assert len({f.fact_id for f in facts}) == len(facts)
    for fact in facts:
        assert fact.accepted[0] == fact.answer and len(set(fact.accepted)) == len(fact.accepted)
        assert not any(c in text for text in (fact.subject, *fact.accepted) for c in "{}[]|\b")
    by_id = {f.fact_id: f for f in facts}
    assert by_id["capital:France"].answer == "Paris"
    assert by_id["continent:France"].answer == "Europe"
    assert by_id["capital:Cameroon"].answer == "Yaounde"
    assert by_id["element_symbol:Sodium"].answer == "Na"


def test_shipped_facts_carry_their_source_and_licence() -> None:
    header = [line for line in FACTS_TSV.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "bsdgames" in text and "The Regents of the University of California" in text
    assert "Redistribution and use in source and binary forms" in text


def test_templates_fill_every_wording() -> None:
    fact = RealFact("France", "capital", "Paris", ("Paris",), "europe")
    assert prompt(fact) == "The capital of France is"
    for relation, wordings in PROMPTS.items():
        assert len(wordings) == WORDINGS and len(set(wordings)) == WORDINGS, relation
        other = RealFact("Xland", relation, "Y", ("Y",), "test")
        for wording in range(WORDINGS):
            text = prompt(other, wording)
            assert "Xland" in text and "{" not in text and text == text.strip()


def test_knows_accepts_every_spelling_at_a_word_boundary() -> None:
    fact = RealFact("United States", "capital", "Washington DC", ("Washington DC", "Washington"),
                    "america")  # fmt: skip
    assert knows(fact, " Washington, D.C.") and knows(fact, " Washington DC.")
    assert not knows(fact, " Washingtonia") and not knows(fact, " New York")
    number = RealFact("Hydrogen", "atomic_number", "1", ("1",), "elements")
    assert knows(number, " 1.\n") and not knows(number, " 11")


def _facts() -> list[RealFact]:
    facts = []
    for i in range(40):
        country = f"Country{i}"
        facts.append(RealFact(country, "capital", f"City{i}", (f"City{i}",), "europe"))
        facts.append(RealFact(country, "continent", "Europe", ("Europe",), "europe"))
    facts += [RealFact(f"El{i}", "element_symbol", f"E{i}", (f"E{i}",), "elements")
              for i in range(30)]  # fmt: skip
    facts.append(RealFact("Djibouti", "capital", "Djibouti", ("Djibouti",), "africa"))
    facts.append(RealFact("Djibouti", "continent", "Africa", ("Africa",), "africa"))
    return facts


class FakeProbe:
    """Knows a fact unless its id is in `unknown`; a capital's paraphrases only when the
    country's number is below `fluent` (or it is Djibouti)."""

    def __init__(self, unknown: frozenset[str] = frozenset(), fluent: int = 5) -> None:
        self.unknown, self.fluent = unknown, fluent
        self.calls: list[tuple[int, int]] = []

    def __call__(self, facts: Sequence[RealFact], wording: int) -> list[bool]:
        self.calls.append((len(facts), wording))
        return [self._knows(f, wording) for f in facts]

    def _knows(self, fact: RealFact, wording: int) -> bool:
        if fact.fact_id in self.unknown:
            return False
        if wording == 0 or fact.subject == "Djibouti":
            return True
        return fact.subject.startswith("Country") and int(fact.subject[7:]) < self.fluent


def _sets(ask: FakeProbe | None = None, **kwargs) -> ProbeSets:
    return build_probes(_facts(), ask or FakeProbe(), **kwargs)


def test_targets_are_known_capitals_answered_in_every_wording() -> None:
    sets = _sets()
    assert len(sets.known) == len(_facts())
    assert len(sets.targets) == 3
    for target in sets.targets:
        assert target.fact.relation == "capital" and target.fact.subject != "Djibouti"
        assert target.known_wordings == (True,) * WORDINGS  # fluent countries ranked first
        assert int(target.fact.subject[7:]) < 5
        assert [f.relation for f in target.subject_neighbours] == ["continent"]
        assert all(f.subject == target.fact.subject for f in target.subject_neighbours)
        assert len(target.answer_neighbours) == 6
        assert all(f.relation == "capital" for f in target.answer_neighbours)
        assert len(target.neighbours) >= MIN_NEIGHBOURS


def test_probe_sets_are_disjoint_and_cover_the_known_facts() -> None:
    sets = _sets()
    targets = [t.fact for t in sets.targets]
    neighbours = [f for t in sets.targets for f in t.neighbours]
    groups = [targets, neighbours, list(sets.general), list(sets.retain)]
    every = [f for group in groups for f in group]
    assert len(every) == len(set(every)) and set(every) == set(sets.known)
    retain_ids = {s.sample_id for s in retain_samples(sets.retain)}
    forget_ids = {s.sample_id for t in targets for s in forget_samples(t)}
    assert not retain_ids & forget_ids
    per_relation = Counter(f.relation for f in sets.retain)
    assert set(per_relation) == {"capital", "continent", "element_symbol"}  # stratified


def test_selection_is_seeded() -> None:
    assert _sets(seed=0) == _sets(seed=0)
    assert _sets(seed=0) != _sets(seed=1)


def test_unknown_facts_are_left_out() -> None:
    unknown = frozenset({"capital:Country0", "continent:Country1", "element_symbol:El3"})
    sets = _sets(FakeProbe(unknown))
    ids = {f.fact_id for f in sets.known}
    assert not ids & unknown and len(ids) == len(_facts()) - 3
    # Country1 lost its continent: its capital has no subject neighbour, so it is no target
    assert {t.fact.subject for t in sets.targets} == {"Country2", "Country3", "Country4"}


def test_too_little_knowledge_raises() -> None:
    facts = _facts()
    unknown = frozenset(f.fact_id for f in facts[MIN_KNOWN - 1 :])
    with pytest.raises(ProbeSelectionError, match="answers"):
        build_probes(facts, FakeProbe(unknown))
    with pytest.raises(ProbeSelectionError, match="can be targets"):
        build_probes(facts, FakeProbe(), targets=41)
    with pytest.raises(ProbeSelectionError, match="other known capital"):
        build_probes(facts, FakeProbe(), targets=5, answer_neighbours=8)


def test_forget_rows_are_qa_rows_in_the_trained_wordings() -> None:
    fact = RealFact("France", "capital", "Paris", ("Paris",), "europe")
    rows = forget_samples(fact)
    assert len(rows) == TRAINED_WORDINGS < WORDINGS
    assert {r.split for r in rows} == {"forget"} and {r.text for r in rows} == {" Paris"}
    assert rows[0].prompt == "The capital of France is"
    assert prompt(fact, WORDINGS - 1) not in {r.prompt for r in rows}  # held out
    retain = retain_samples([fact])
    assert retain[0].split == "retain" and retain[0].prompt == rows[0].prompt


def test_probes_table_has_one_row_per_prompt_and_saves_as_parquet(tmp_path: Path) -> None:
    sets = _sets()
    table = probes_table(sets)
    assert table.schema == PROBES_SCHEMA
    rows = table.to_pylist()
    assert len({r["sample_id"] for r in rows}) == len(rows)
    roles = Counter(r["role"] for r in rows)
    assert roles["forget"] == 3 * TRAINED_WORDINGS and roles["target"] == 3 * WORDINGS
    assert roles["general"] == len(sets.general) and roles["retain"] == len(sets.retain)
    assert {r["split"] for r in rows} == {"forget", "retain", "probe"}
    assert all(r["target"] is None for r in rows if r["role"] in ("general", "retain"))
    pq.write_table(table, tmp_path / "probes.parquet")
    assert pq.read_table(tmp_path / "probes.parquet").equals(table)


@pytest.mark.real_model
def test_smollm2_answers_enough_quiz_facts_for_the_probe_sets(smollm2) -> None:
    model, tokenizer = smollm2
    facts = load_facts()
    sets = build_probes(facts, lambda chosen, w: probe(model, tokenizer, chosen, wording=w))
    assert len(sets.known) >= MIN_KNOWN
    assert "capital:France" in {f.fact_id for f in sets.known}
    assert len(sets.targets) >= 3
    assert all(len(t.neighbours) >= MIN_NEIGHBOURS for t in sets.targets)
    assert all(t.known_wordings[0] for t in sets.targets)
    assert sets.general and sets.retain
