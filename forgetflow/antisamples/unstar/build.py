"""UnSTAR's anti-samples for a set of questions: each paired with a falsified answer of its
target (a reversed question, with a falsified subject), given a misleading rationale, and passed
through the leak filter; every one, accepted or rejected with its reason, is a row of the rounds
table (the `unstar_rounds` schema, forgetflow/schemas.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from forgetflow.antisamples.leak_filter import leak_reason
from forgetflow.antisamples.unstar.facts import REVERSED, AntiSample, FactTarget, Question
from forgetflow.antisamples.unstar.roles import AnswerWriter, QuestionWriter, RationaleWriter
from forgetflow.records import Figure
from forgetflow.schemas import table_schema

ROUNDS_SCHEMA = table_schema("unstar_rounds").schema
IDK_ANSWER = "I don't know"


@dataclass(frozen=True)
class Writers:
    """The generator of each role; `rationales` None: the rationale-free ablation; `idk`: the
    answer is "I don't know" instead of a falsified one (no answer writer is asked)."""

    questions: QuestionWriter
    answers: AnswerWriter
    rationales: RationaleWriter | None
    idk: bool = False

    def names(self) -> dict[str, str]:
        rationales = self.rationales.name if self.rationales else "none"
        answers = "idk" if self.idk else self.answers.name
        return {"question_writer": self.questions.name, "answer_writer": answers,
                "rationale_writer": rationales}  # fmt: skip


def inverse(target: FactTarget, subjects: Sequence[str]) -> FactTarget:
    """The reversed fact: the object as subject, the subject as the answer, `subjects` (other
    subjects of the relation's kind) as its alternatives."""
    return replace(target, subject=target.answer, answer=target.subject,
                   alternatives=tuple(subjects), accepted=(), distractors=())  # fmt: skip


@dataclass(frozen=True)
class Falsified:
    """Falsified answers per target id (forward) and per target id for its reversed questions."""

    forward: Mapping[str, list[str]]
    reversed: Mapping[str, list[str]]

    def pick(self, question: Question, index: int) -> str | None:
        table = self.reversed if question.variant == REVERSED else self.forward
        options = table.get(question.target_id) or []
        return options[index % len(options)] if options else None


def falsify(writers: Writers, targets: Sequence[FactTarget], n: int, seed: int) -> Falsified:
    """`n` falsified answers per target, and per reversed fact (targets with `subjects`)."""
    if writers.idk:
        return Falsified({t.target_id: [IDK_ANSWER] for t in targets},
                         {t.target_id: [IDK_ANSWER] for t in targets})  # fmt: skip
    forward = writers.answers.answers(targets, n, seed)
    inverses = [inverse(t, t.subjects) for t in targets if t.subjects]
    backward = writers.answers.answers(inverses, n, seed) if inverses else {}
    return Falsified(forward, backward)


def anti_samples(
    targets: Mapping[str, FactTarget], asked: Sequence[Question], falsified: Falsified,
    writers: Writers, seed: int,
) -> tuple[list[AntiSample], list[dict]]:  # fmt: skip
    """The accepted anti-samples of `asked` and one row per question (ROUNDS_SCHEMA's
    anti-sample columns; the caller adds round and probe): question i takes its target's i-th
    falsified answer (cycling), and a question with none is rejected ("no_falsified_answer")."""
    pairs = [(q, falsified.pick(q, i)) for i, q in enumerate(asked)]
    usable = [(q, a) for q, a in pairs if a is not None]
    items = [(targets[q.target_id], q, a) for q, a in usable]
    texts = writers.rationales.rationales(items, seed) if writers.rationales else [""] * len(items)
    written = {id(q): (a, r) for (q, a), r in zip(usable, texts, strict=True)}
    kept, rows, names = [], [], writers.names()
    for question, _ in pairs:
        falsified_answer, rationale = written.get(id(question), (None, ""))
        reason = (
            "no_falsified_answer"
            if falsified_answer is None
            else leak_reason(
                spellings(targets[question.target_id], question), f"{falsified_answer}. {rationale}"
            )
        )
        if reason is None:
            kept.append(AntiSample(question.target_id, question.text, question.variant,
                                   falsified_answer or "", rationale,
                                   tuple(names.items())))  # fmt: skip
        rows.append({"target_id": question.target_id, "question": question.text,
                     "variant": question.variant, "falsified": falsified_answer or "",
                     "rationale": rationale, "accepted": reason is None,
                     "leak_reason": reason or "", **names})  # fmt: skip
    return kept, rows


def spellings(target: FactTarget, question: Question) -> tuple[str, ...]:
    """What an anti-sample of `question` must not give: the subject of a reversed question,
    else every spelling of the answer."""
    return (question.expects,) if question.variant == REVERSED else target.spellings


def rounds_figures(rows: Sequence[dict]) -> list[Figure]:
    """Per target (group: its id): the rounds it was probed in, the anti-samples accepted and
    rejected, and the rejected ones by leak reason (`rejected:<reason>`), as counts."""
    out: list[Figure] = []
    for target in sorted({r["target_id"] for r in rows}):
        mine = [r for r in rows if r["target_id"] == target]
        reasons = Counter(r["leak_reason"].split(":")[0] for r in mine if r["leak_reason"])
        counts = {"unstar_rounds": max(r["round"] for r in mine),
                  "unstar_accepted": sum(r["accepted"] for r in mine),
                  "unstar_rejected": sum(reasons.values()),
                  **{f"unstar_rejected:{k}": v for k, v in sorted(reasons.items())}}  # fmt: skip
        out += [Figure("unlearning", metric, "after", target, float(value), None, len(mine))
                for metric, value in counts.items()]  # fmt: skip
    return out
