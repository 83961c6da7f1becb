"""A facts file as a request: each fact a target, its keep-probes split with the seed, its
paraphrases (and their noisy variants) asked only in evaluation, and the files written once,
whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from forgetflow.antisamples.unstar.request import request_from_json
from forgetflow.data.loaders import DataInputError, load_request
from forgetflow.scenarios.fact_file import FactFileError, read_facts
from forgetflow.scenarios.fact_file_request import build_fact_file_request, draw_user_facts

FactLine = Callable[..., dict]  # the `fact` fixture: a good line, with changes
Write = Callable[..., Path]  # the `write` fixture: lines as tmp_path/facts.jsonl
PARAPHRASES = ["Which company employs Ana Ruiz 0?", "Who is the employer of Ana Ruiz 0?"]


def holdout(folder: Path, kind: str = "qa") -> Path:
    path = folder / "holdout.jsonl"
    rows = [{"question": f"Where does Bo Lee {k} work?", "answer": "Acme"} if kind == "qa"
            else {"text": f"Bo Lee {k} works at Acme."} for k in range(3)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_keep_probes_split_per_side_half_trained_the_rest_evaluated(
    fact: FactLine, write: Write
) -> None:
    four = [{"question": f"Q{k} about Ana Ruiz 0?", "answer": f"A{k}", "about": "subject"}
            for k in range(4)] + fact()["keep"][2:]  # fmt: skip
    facts = read_facts(write(fact(0, keep=four), fact(1)))
    drawn = draw_user_facts(facts, seed=0)
    for one, (subject, obj) in zip(facts, ((4, 1), (2, 1)), strict=True):
        for side, count in (("subject", subject), ("object", obj)):
            trained = [p for p in drawn.trained if (p.target_id, p.role) == (one.fact_id, side)]
            kept = [p for p in drawn.evaluated if (p.target_id, p.role) == (one.fact_id, side)]
            assert (len(trained), len(kept)) == (count // 2, count - count // 2)
            given = {(k.question, k.answer) for k in one.keep if k.about == side}
            split = {(p.row["question"], p.row["answer"]) for p in trained + kept}
            assert split == given
    asked = {(q.target_id, q.text, q.variant, q.expects) for q in drawn.request.keep}
    assert asked == {(p.target_id, p.row["question"], f"keep_{p.role}", p.row["answer"])
                     for p in drawn.evaluated}  # fmt: skip
    assert draw_user_facts(facts, seed=0) == drawn
    orders = {tuple(p.row["question"] for p in draw_user_facts(facts, s).trained)
              for s in range(16)}  # fmt: skip
    assert len(orders) > 1  # the seed picks which probes are trained


def test_targets_and_evaluation_questions_come_from_the_line_alone(
    fact: FactLine, write: Write
) -> None:
    line = fact(0, paraphrases=PARAPHRASES, alternatives=["Northwind"], accepted=["BL 0"])
    (only,) = read_facts(write(line))
    request = draw_user_facts([only], seed=3).request
    (target,) = request.targets
    assert (target.target_id, target.subject, target.answer) == ("fact-0001", "Ana Ruiz 0",
                                                                 "Brightline 0")  # fmt: skip
    assert target.alternatives == ("Northwind",) and target.accepted == ("BL 0",)
    assert target.subjects == target.distractors == () and request.generator is None
    assert target.trained_questions == (line["question"],)
    rephrase = [q.text for q in request.evaluation if q.variant == "rephrase"]
    noisy = [q.text for q in request.evaluation if q.variant == "noisy"]
    assert rephrase == PARAPHRASES and len(noisy) == 2 and not set(noisy) & set(PARAPHRASES)
    assert all("Ana Ruiz 0" in q for q in noisy)  # the subject's words are never misspelt
    assert {q.expects for q in request.evaluation} == {"Brightline 0"}


def test_the_request_files_load_as_a_qa_request_and_are_built_once(
    fact: FactLine, write: Write, tmp_path: Path
) -> None:
    facts = write(fact(0, paraphrases=PARAPHRASES), fact(1))
    built = build_fact_file_request(facts, holdout(tmp_path), 0, tmp_path / "requests")
    loaded = load_request(built.splits)
    assert {split: one.kind for split, one in loaded.items()} == dict.fromkeys(loaded, "qa")
    forget = {s.sample_id: s for s in loaded["forget"].samples}
    assert set(forget) == {"fact-0001", "fact-0002"}
    assert forget["fact-0001"].paraphrases[:2] == tuple(PARAPHRASES)
    drawn = draw_user_facts(read_facts(facts), 0)
    assert [s.sample_id for s in loaded["retain"].samples] == [
        p.row["item_id"] for p in drawn.trained
    ]
    stored = json.loads((built.folder / "request.json").read_text())
    assert request_from_json(stored) == drawn.request
    stamp = (built.folder / "request.json").stat().st_mtime_ns
    again = build_fact_file_request(facts, holdout(tmp_path), 0, tmp_path / "requests")
    assert again == built and (built.folder / "request.json").stat().st_mtime_ns == stamp
    other = build_fact_file_request(facts, holdout(tmp_path), 1, tmp_path / "requests")
    assert other.folder != built.folder


def test_a_bad_file_writes_nothing_and_a_text_holdout_is_one_error(
    fact: FactLine, write: Write, tmp_path: Path
) -> None:
    root = tmp_path / "requests"
    bad = write(fact(0), fact(1, keep=[]))
    with pytest.raises(FactFileError, match="line 2: no keep-probe"):
        build_fact_file_request(bad, holdout(tmp_path), 0, root)
    assert not root.exists() or not list(root.iterdir())
    good = write(fact(0))
    built = build_fact_file_request(good, holdout(tmp_path, "text"), 0, root)
    with pytest.raises(DataInputError, match="mix text and QA rows"):
        load_request(built.splits)
