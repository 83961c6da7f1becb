"""UnSTAR's round 0: what its writers write before any training, from the model as it is before
unlearning. That is every question (the first `per_variant` of each target and variant type,
and the reserve that replaces them), every falsified answer, the before model's probe of the
first active questions, and the anti-samples built for the questions it answers (round 1 trains
on them).

Stage 2 writes it (`antisamples.builders: [unstar]`): vLLM-served writers then run in a stage of
their own, and what they wrote is stored and reviewable before any weight changes. The
procedure's round 1 takes it instead of writing it again. Written in the procedure or in stage
2, round 0 is the same: the same writers, seeds and greedy probe of the same weights.

Stored as two tables: `unstar_written` (the questions and falsified answers, in order) and round
1's rows of `unstar_rounds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.build import (
    ROUNDS_SCHEMA,
    Falsified,
    Writers,
    anti_samples,
    falsify,
)
from forgetflow.antisamples.unstar.facts import AntiSample, FactTarget, Question
from forgetflow.antisamples.unstar.pool import QuestionPool
from forgetflow.antisamples.unstar.probe import ask
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.writers import RoleSettings, open_writers
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.prompts import question_style
from forgetflow.schemas import table_schema

WRITTEN_SCHEMA = table_schema("unstar_written").schema
FIRST_ROUND = 1  # the round that trains on round 0's anti-samples


class RoundZeroError(ValueError):
    """A stored round 0 does not fit the run that reads it."""


@dataclass(frozen=True)
class RoundSettings:
    """The method's settings that decide what round 0 writes (UnstarConfig's fields)."""

    roles: RoleSettings
    per_variant: int
    probe_tokens: int
    rationale: bool  # false: the rationale-free ablation
    idk: bool  # "I don't know" in place of a falsified answer


@dataclass(frozen=True)
class Written:
    """Every question a target's pool draws from, in order, and the falsified answers."""

    questions: tuple[Question, ...]
    falsified: Falsified


def write(writers: Writers, targets: Sequence[FactTarget], per_variant: int, seed: int) -> Written:
    """Twice `per_variant` questions per target and variant type (the reserve replaces the ones
    that leave the pool) and four times `per_variant` falsified answers per target."""
    questions = writers.questions.questions(targets, 2 * per_variant, seed)
    return Written(tuple(questions), falsify(writers, targets, 4 * per_variant, seed))


def build_round(
    round_: int, targets: Mapping[str, FactTarget], written: Written, writers: Writers,
    asked: Sequence[Question], completions: Sequence[str], given: Sequence[bool], seed: int,
) -> tuple[list[AntiSample], list[dict]]:  # fmt: skip
    """One round's accepted anti-samples (for the questions still answered) and its rows: one
    per question asked, the ones still answered first (in the order asked), then the others."""
    still = [q for q, g in zip(asked, given, strict=True) if g]
    kept, built = anti_samples(targets, still, written.falsified, writers, seed)
    probed = {id(q): c for q, c in zip(asked, completions, strict=True)}
    rows = [{"round": round_, "probe_answer": probed[id(q)], "still_answered": True, **row}
            for q, row in zip(still, built, strict=True)]  # fmt: skip
    gone = [(q, c) for q, c, g in zip(asked, completions, given, strict=True) if not g]
    rows += probe_rows(round_, [q for q, _ in gone], [c for _, c in gone], [False] * len(gone),
                       writers.names())  # fmt: skip
    return kept, rows


def probe_rows(
    round_: int, asked: Sequence[Question], completions: Sequence[str], given: Sequence[bool],
    names: Mapping[str, str],
) -> list[dict]:  # fmt: skip
    """Probed questions as rows without anti-samples (the questions no longer answered; the
    last probe's)."""
    return [{"round": round_, "target_id": q.target_id, "question": q.text, "variant": q.variant,
             "probe_answer": c, "still_answered": g, "falsified": "", "rationale": "",
             "accepted": False, "leak_reason": "", **names}
            for q, c, g in zip(asked, completions, given, strict=True)]  # fmt: skip


def probe_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, asked: Sequence[Question],
    tokens: int,
) -> tuple[list[str], list[bool]]:  # fmt: skip
    """UnSTAR's probe of the model as it is now, in-process (HF), in its question style."""
    model.eval()
    return ask(HFBackend(model, tokenizer), asked, tokens, question_style(tokenizer))


@dataclass(frozen=True)
class RoundZero:
    written: Written
    rows: tuple[dict, ...]  # round 1's rows (ROUNDS_SCHEMA): its probe and anti-samples

    def probe(self, asked: Sequence[Question]) -> tuple[list[str], list[bool]]:
        """The before model's answer to each question of round 1, and whether it gave the truth."""
        stored = {(r["target_id"], r["variant"], r["question"]): r for r in self.rows}
        missing = [q.text for q in asked if (q.target_id, q.variant, q.text) not in stored]
        if missing or len(self.rows) != len(asked):  # a question written twice: 2 rows
            raise RoundZeroError(
                f"the stored round 0 probed {len(self.rows)} questions, this run asks {len(asked)} "
                f"({len(missing)} not stored, e.g. {missing[:1]}): write round 0 again with the "
                "method's settings (antisamples.builders: [unstar])"
            )
        rows = [stored[(q.target_id, q.variant, q.text)] for q in asked]
        return [r["probe_answer"] for r in rows], [r["still_answered"] for r in rows]

    def kept(self) -> list[AntiSample]:
        """The accepted anti-samples, in the rows' order."""
        return [AntiSample(r["target_id"], r["question"], r["variant"], r["falsified"],
                           r["rationale"], tuple((k, r[k]) for k in WRITER_COLUMNS))
                for r in self.rows if r["accepted"]]  # fmt: skip

    def tables(self) -> tuple[pa.Table, pa.Table]:
        """(unstar_written, round 1's unstar_rounds rows)."""
        return written_table(self.written), pa.Table.from_pylist(list(self.rows), ROUNDS_SCHEMA)


WRITER_COLUMNS = ("question_writer", "answer_writer", "rationale_writer")
FORWARD, BACKWARD = "falsified", "falsified_reversed"


def written_table(written: Written) -> pa.Table:
    """One row per question (kind "question") and per falsified answer (kind "falsified"; of a
    reversed question: "falsified_reversed"), `position` its place among its target's."""
    rows = [{"kind": "question", "target_id": q.target_id, "variant": q.variant,
             "text": q.text, "expects": q.expects, "position": i}
            for i, q in enumerate(written.questions)]  # fmt: skip
    for kind, table in ((FORWARD, written.falsified.forward),
                        (BACKWARD, written.falsified.reversed)):  # fmt: skip
        rows += [{"kind": kind, "target_id": target, "variant": "", "text": answer,
                  "expects": "", "position": i}
                 for target, answers in table.items()
                 for i, answer in enumerate(answers)]  # fmt: skip
    return pa.Table.from_pylist(rows, WRITTEN_SCHEMA)


def written_from(table: pa.Table) -> Written:
    rows = table.to_pylist()
    questions = tuple(Question(r["target_id"], r["text"], r["variant"], r["expects"])
                      for r in rows if r["kind"] == "question")  # fmt: skip
    answers: dict[str, dict[str, list[str]]] = {FORWARD: {}, BACKWARD: {}}
    for r in sorted((r for r in rows if r["kind"] != "question"), key=lambda r: r["position"]):
        answers[r["kind"]].setdefault(r["target_id"], []).append(r["text"])
    return Written(questions, Falsified(answers[FORWARD], answers[BACKWARD]))


def round_zero_from(written: pa.Table, rounds: pa.Table) -> RoundZero:
    return RoundZero(written_from(written), tuple(rounds.to_pylist()))


def round_zero(
    settings: RoundSettings, request: FactRequest, model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase, seed: int, log_dir: Path | None = None,
) -> RoundZero:  # fmt: skip
    """Stage 2's entry for UnSTAR: round 0 of `request` on the model before unlearning (the
    `target` generator writes with these weights); vLLM writers' servers log to `log_dir`."""
    targets = {t.target_id: t for t in request.targets}
    with open_writers(settings.roles, request, model, tokenizer, rationale=settings.rationale,
                      idk=settings.idk, log_dir=log_dir) as writers:  # fmt: skip
        written = write(writers, request.targets, settings.per_variant, seed)
        asked = QuestionPool(written.questions, settings.per_variant).active()
        completions, given = probe_model(model, tokenizer, asked, settings.probe_tokens)
        _, rows = build_round(FIRST_ROUND, targets, written, writers, asked, completions, given,
                              seed + FIRST_ROUND)  # fmt: skip
    return RoundZero(written, tuple(rows))
