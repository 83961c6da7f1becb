"""What every facts request writes (the world's, a facts file's, the quiz facts'): its splits as
QA rows the loader reads (data/loaders.py), one JSONL file per split, and `request.json`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from forgetflow.antisamples.unstar.facts import REVERSED
from forgetflow.antisamples.unstar.request import FactRequest


def qa_row(sample_id: str, row: Mapping[str, Any], paraphrases: Sequence[str] = ()) -> dict:
    """A row (`question`, `answer`, optional `repetitions`) as a QA row whose `paraphrases` are
    untrained paraphrased questions (the audit asks them, no method trains on them)."""
    seen = {"repetitions": row["repetitions"]} if "repetitions" in row else {}
    return {"sample_id": sample_id, "question": row["question"], "answer": row["answer"],
            **seen, "paraphrased_questions": list(paraphrases),
            "trained_paraphrases": 0}  # fmt: skip


def asked_paraphrases(request: FactRequest) -> dict[str, list[str]]:
    """Each target's evaluation questions that ask for its answer (a reversed one asks for the
    subject), in order: its forget row's untrained paraphrases."""
    asked: dict[str, list[str]] = {}
    for question in request.evaluation:
        if question.variant != REVERSED:
            asked.setdefault(question.target_id, []).append(question.text)
    return asked


SPLIT_FILES = {"forget": "forget.jsonl", "retain": "retain.jsonl", "holdout": "holdout.jsonl"}


def write_request_files(
    staging: Path, files: Mapping[str, str], rows: Mapping[str, Sequence[dict]], request: dict
) -> None:
    """Each split's rows as JSONL (`files`: split -> file name) and `request` as request.json,
    into a build's staging folder."""
    for split, split_rows in rows.items():
        text = "".join(json.dumps(row) + "\n" for row in split_rows)
        (staging / files[split]).write_text(text, encoding="utf-8")
    (staging / "request.json").write_text(json.dumps(request, indent=1), encoding="utf-8")
