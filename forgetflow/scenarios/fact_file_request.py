"""A facts request from your own facts file (fact_file.py) on disk, built once per (file
content, seed) in `<home>/requests/facts-file-<key>/`: the forget set (each fact as a QA row
`fact-<line>`, its paraphrases and their noisy variants as untrained paraphrases, which the
audit asks), the retain set (the trained half of the keep-probes) and `request.json` (the
targets, no template set: your relations have none, so UnSTAR's roles are written by the target
model or another model, the evaluation questions and the evaluated keep-probes). The holdout is
your own file, read as the files source reads it. There is no retain model unless you name one.

Each fact's keep-probes about its subject, and about its object, are split with the seed as the
world's are (antisamples/unstar/keep.py): half (rounded down) trained, the rest evaluated with
their own question (never trained)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forgetflow.antisamples.unstar.facts import FactTarget, Question
from forgetflow.antisamples.unstar.keep import DrawnFacts, KeepProbe, split_probes
from forgetflow.antisamples.unstar.request import FactRequest, request_to_json
from forgetflow.antisamples.unstar.templates import evaluation_questions
from forgetflow.hashing import content_key, file_sha256
from forgetflow.scenarios.build import build_once
from forgetflow.scenarios.fact_file import ABOUT, UserFact, read_facts
from forgetflow.scenarios.request_files import asked_paraphrases, qa_row, write_request_files

FACT_FILE_FORMAT = 1
SPLIT_FILES = {"forget": "forget.jsonl", "retain": "retain.jsonl"}


@dataclass(frozen=True)
class FactFileRequest:
    folder: Path  # holds request.json, forget.jsonl and retain.jsonl
    splits: dict[str, Path]  # forget, retain (in the folder) and holdout (your own file)


def user_target(fact: UserFact) -> FactTarget:
    """A fact as UnSTAR's target: no distractors and no other subjects (nothing is invented;
    without subjects no reversed question gets a falsified subject)."""
    return FactTarget(target_id=fact.fact_id, subject=fact.subject, relation=fact.relation,
                      answer=fact.answer, question=fact.question,
                      alternatives=fact.alternatives, accepted=fact.accepted,
                      trained_questions=(fact.question,))  # fmt: skip


def probe_rows(fact: UserFact, about: str) -> list[dict]:
    """The fact's keep-probes about one side as rows with an `item_id` (`<fact id>/keep-<k>`,
    k its place in the line's `keep`)."""
    return [{"item_id": f"{fact.fact_id}/keep-{k}", "question": p.question, "answer": p.answer}
            for k, p in enumerate(fact.keep) if p.about == about]  # fmt: skip


def draw_user_facts(facts: Sequence[UserFact], seed: int) -> DrawnFacts:
    """Every fact a target, its keep-probes split with `seed`, no template set."""
    targets, questions = [], []
    trained: list[KeepProbe] = []
    evaluated: list[KeepProbe] = []
    for fact in facts:
        target = user_target(fact)
        targets.append(target)
        questions += evaluation_questions(target, None, seed, tuple(fact.paraphrases))
        for about in ABOUT:
            train, keep = split_probes(target.target_id, about, probe_rows(fact, about), seed)
            trained += train
            evaluated += keep
    keep_questions = tuple(Question(p.target_id, p.row["question"], f"keep_{p.role}",
                                    p.row["answer"]) for p in evaluated)  # fmt: skip
    request = FactRequest(tuple(targets), None, tuple(questions), keep_questions)
    rows = {t.target_id: {"question": t.question, "answer": t.answer} for t in targets}
    return DrawnFacts(request, rows, tuple(trained), tuple(evaluated), ())


def split_rows(drawn: DrawnFacts) -> dict[str, list[dict]]:
    """The forget rows (each with its evaluation questions as untrained paraphrases) and the
    retain rows (the trained keep-probes), as the loader reads QA rows."""
    asked = asked_paraphrases(drawn.request)
    forget = [qa_row(t, row, asked.get(t, [])) for t, row in drawn.targets.items()]
    retain = [qa_row(p.row["item_id"], p.row) for p in drawn.trained]
    return {"forget": forget, "retain": retain}


def write_request(facts: Sequence[UserFact], source: dict, seed: int, staging: Path) -> None:
    drawn = draw_user_facts(facts, seed)
    request = request_to_json(drawn.request) | {"source": source}
    write_request_files(staging, SPLIT_FILES, split_rows(drawn), request)


def build_fact_file_request(facts: Path, holdout: Path, seed: int, root: Path) -> FactFileRequest:
    """The request of a facts file under `root` (built once per content and seed, staged then
    renamed: an error leaves nothing behind), with `holdout` as its holdout split. The file is
    checked on every call: each problem is one FactFileError line."""
    parsed = read_facts(facts)
    source = {"facts_file": str(facts), "sha256": file_sha256(facts)}
    key = content_key({"format": FACT_FILE_FORMAT, "facts": source["sha256"], "seed": seed})
    folder = root / f"facts-file-{key}"
    if not (folder / "request.json").is_file():
        build_once(folder, lambda staging: write_request(parsed, source, seed, staging))
    splits = {split: folder / name for split, name in SPLIT_FILES.items()}
    return FactFileRequest(folder, splits | {"holdout": holdout})
