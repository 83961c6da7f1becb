"""A pretrained model's quiz facts as a request on disk: the files' rows, the holdout of facts the
model does not answer, no evaluation question trained, built once, and too little knowledge as
one ProbeSelectionError. A fake probe stands for the model (no model loads)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from forgetflow.antisamples.unstar.facts import REVERSED
from forgetflow.antisamples.unstar.request import request_from_json
from forgetflow.data.answers import normalise_answer
from forgetflow.data.loaders import load_request
from forgetflow.scenarios.quiz_facts.fact_files import (
    MIN_HOLDOUT,
    QuizDraw,
    QuizRequest,
    build_quiz_request,
)
from forgetflow.scenarios.quiz_facts.fact_request import row
from forgetflow.scenarios.quiz_facts.facts import ProbeSelectionError, RealFact, load_facts

FORGETS = frozenset("ABC")  # the fake model fails on the capitals of countries starting so


class FakeModel:
    """Answers every quiz fact in every wording but the capitals of countries whose name starts
    with a letter of `forgets`; counts the facts it is asked."""

    def __init__(self, forgets: frozenset[str] = FORGETS) -> None:
        self.forgets, self.asked = forgets, 0

    def knows(self, fact: RealFact) -> bool:
        return not (fact.relation == "capital" and fact.subject[0] in self.forgets)

    def __call__(self, facts: Sequence[RealFact], wording: int) -> list[bool]:
        self.asked += len(facts)
        return [self.knows(f) for f in facts]


def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "fake"}')
    return folder


def build(tmp_path: Path, fake: FakeModel, targets: int = 3, seed: int = 0) -> QuizRequest:
    return build_quiz_request(model_dir(tmp_path), QuizDraw(targets, seed),
                              tmp_path / "requests", fake)  # fmt: skip


def stored(built: QuizRequest) -> dict:
    return json.loads((built.folder / "request.json").read_text())


def rows(built: QuizRequest, split: str) -> list[dict]:
    return [json.loads(line) for line in built.splits[split].read_text().splitlines()]


def test_forget_rows_are_the_targets_with_their_evaluation_questions(tmp_path: Path) -> None:
    built = build(tmp_path, FakeModel())
    assert built.folder.name.startswith("quiz-") and built.folder.parent == tmp_path / "requests"
    request = request_from_json(stored(built))
    assert len(request.targets) == 3 and {t.relation for t in request.targets} == {"capital"}
    forget = rows(built, "forget")
    assert [r["sample_id"] for r in forget] == [t.target_id for t in request.targets]
    for target, one in zip(request.targets, forget, strict=True):
        assert (one["question"], one["answer"]) == (target.question, target.answer)
        asked = [q.text for q in request.evaluation
                 if q.target_id == target.target_id and q.variant != REVERSED]  # fmt: skip
        assert asked and one["paraphrased_questions"] == asked
        assert one["trained_paraphrases"] == 0
    loaded = load_request(built.splits)
    assert {split: one.kind for split, one in loaded.items()} == dict.fromkeys(loaded, "qa")


def test_retain_rows_are_the_trained_keep_probes_and_none_is_evaluated(tmp_path: Path) -> None:
    built = build(tmp_path, FakeModel())
    request = request_from_json(stored(built))
    retain = rows(built, "retain")
    assert len(retain) == 3 * 3  # each target: its continent evaluated, 3 of 6 capitals trained
    assert {r["sample_id"].split("/")[0].split(":")[0] for r in retain} == {"keep-capital"}
    targets = {t.subject for t in request.targets}
    assert not {r["sample_id"].split(":", 1)[1] for r in retain} & targets
    trained = [r["question"] for r in rows(built, "forget") + retain]
    asked = [q.text for q in (*request.evaluation, *request.keep)]
    asked += [p for r in rows(built, "forget") for p in r["paraphrased_questions"]]
    assert {normalise_answer(q) for q in asked}.isdisjoint(normalise_answer(q) for q in trained)
    kept = {q.text for q in request.keep}
    assert {q.variant for q in request.keep} == {"keep_subject", "keep_answer"}
    assert not kept & {r["question"] for r in retain}


def test_the_holdout_is_capitals_the_model_does_not_answer(tmp_path: Path) -> None:
    fake = FakeModel()
    built = build(tmp_path, fake)
    holdout = rows(built, "holdout")
    wanted = max(len(rows(built, "forget")) + len(rows(built, "retain")), MIN_HOLDOUT)
    assert len(holdout) == wanted == MIN_HOLDOUT
    facts = {f"holdout-{f.fact_id}": f for f in load_facts()}
    for one in holdout:
        fact = facts[one["sample_id"]]
        assert fact.relation == "capital" and not fake.knows(fact)
        assert (one["question"], one["answer"]) == (row(fact)["question"], fact.answer)
    assert len({r["sample_id"] for r in holdout}) == len(holdout)


def test_the_request_is_built_once_per_model_targets_and_seed(tmp_path: Path) -> None:
    fake = FakeModel()
    built = build(tmp_path, fake)
    stamp, asked = (built.folder / "request.json").stat().st_mtime_ns, fake.asked
    assert asked >= len(load_facts())  # every fact probed once
    assert build(tmp_path, fake) == built and fake.asked == asked
    assert (built.folder / "request.json").stat().st_mtime_ns == stamp
    others = {build(tmp_path, fake, seed=1).folder, build(tmp_path, fake, targets=2).folder}
    (model_dir(tmp_path) / "model.safetensors").write_bytes(b"other weights")
    others.add(build(tmp_path, fake).folder)
    assert len(others | {built.folder}) == 4


@pytest.mark.parametrize(
    ("forgets", "message"),
    [(frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "can be targets"), (frozenset(), "holdout needs")],
)
def test_too_little_or_too_much_knowledge_is_one_error_and_writes_nothing(
    tmp_path: Path, forgets: frozenset[str], message: str
) -> None:
    with pytest.raises(ProbeSelectionError, match=message) as caught:
        build(tmp_path, FakeModel(forgets))
    assert str(caught.value).startswith(f"quiz facts of {model_dir(tmp_path)}: ")
    assert "\n" not in str(caught.value)
    root = tmp_path / "requests"
    assert not root.exists() or not list(root.iterdir())
