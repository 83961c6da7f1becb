"""One declared Arrow schema per table artifact kind, plus the non-table kinds."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class TableSchema:
    name: str
    version: int
    schema: pa.Schema


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind, nullable=False) for name, kind in fields])


TABLE_SCHEMAS: dict[str, TableSchema] = {
    s.name: s
    for s in (
        TableSchema(
            "samples",
            4,
            _schema(
                ("sample_id", pa.string()),
                ("split", pa.string()),
                ("text", pa.string()),
                ("repetitions", pa.int64()),  # exposures in training; -1 when unknown
                ("prompt", pa.string()),  # a QA row's question; a window's text before it; or ""
                ("source_id", pa.string()),  # the sample a window comes from; "" when none
                ("paraphrases", pa.list_(pa.string())),  # a QA row's untrained paraphrases
            ),
        ),
        TableSchema(
            "ledger",
            1,
            _schema(
                ("sample_id", pa.string()),
                ("split", pa.string()),
                ("step", pa.int64()),
                ("metric", pa.string()),
                ("value", pa.float64()),
            ),
        ),
        TableSchema(
            "antisamples",
            1,
            _schema(
                ("sample_id", pa.string()),
                ("source_id", pa.string()),
                ("text", pa.string()),
                ("backend", pa.string()),
            ),
        ),
        TableSchema(
            "extraction",
            4,
            _schema(
                ("sample_id", pa.string()),
                ("split", pa.string()),
                ("repetitions", pa.int64()),
                ("model", pa.string()),
                ("prefix_tokens", pa.int64()),
                ("suffix_tokens", pa.int64()),
                ("exact", pa.bool_()),
                ("token_match", pa.float64()),
                ("leaks_fields", pa.bool_()),  # the completion gives a field of the record
                ("backend", pa.string()),  # which generation backend decoded the attack
            ),
        ),
        TableSchema(
            "audit_samples",  # the audit per sample: one row per (sample, variant, measure)
            1,
            _schema(
                ("sample_id", pa.string()),
                ("split", pa.string()),
                ("variant", pa.string()),
                ("attack", pa.string()),  # e.g. carlini_32_leak_at_16, mia_loss, verdict
                ("value", pa.float64()),  # a score, a share's 0/1, a length
                ("detail", pa.string()),  # a verdict's name, a score's group, a field; or ""
            ),
        ),
        TableSchema(
            "verdicts",
            1,
            _schema(
                ("sample_id", pa.string()),
                ("variant", pa.string()),
                ("verdict", pa.string()),
                ("still_extractable", pa.bool_()),
                ("leaks_fields", pa.bool_()),
                ("membership_detectable", pa.bool_()),
                ("over_unlearned", pa.bool_()),
                ("forgotten", pa.bool_()),
            ),
        ),
        TableSchema(
            "membership",
            1,
            _schema(
                ("sample_id", pa.string()),
                ("split", pa.string()),
                ("repetitions", pa.int64()),
                ("member", pa.bool_()),
                ("variant", pa.string()),
                ("attack", pa.string()),
                ("score", pa.float64()),  # higher = more likely a member
                ("group", pa.string()),  # forget_vs_holdout, retain_vs_holdout
            ),
        ),
        TableSchema(
            "utility",  # utility per sample: one row per (variant, set, item, metric)
            2,
            _schema(
                ("variant", pa.string()),
                ("set", pa.string()),  # general_eval, or a QA set's name
                ("role", pa.string()),  # general, retain, forget or control
                ("item_id", pa.string()),
                ("repetitions", pa.int64()),  # exposures in training; -1 when unknown
                ("metric", pa.string()),  # nll, tokens, probability, rouge_l, answered ...
                ("value", pa.float64()),
                ("detail", pa.string()),  # the greedy answer beside rouge_l; or ""
            ),
        ),
        TableSchema(
            "unstar_rounds",
            1,
            _schema(
                ("round", pa.int64()),
                ("target_id", pa.string()),
                ("question", pa.string()),
                ("variant", pa.string()),  # rephrase, more_specific, noisy or reversed
                ("probe_answer", pa.string()),  # the model's greedy answer this round
                ("still_answered", pa.bool_()),  # it gave the true answer: an anti-sample is due
                ("falsified", pa.string()),  # the falsified answer; "" when none was built
                ("rationale", pa.string()),  # "" when none (not built, or rationale: none)
                ("accepted", pa.bool_()),  # built and passed the leak filter: trained on
                ("leak_reason", pa.string()),  # why rejected ("" when accepted or not built)
                ("question_writer", pa.string()),  # the generator of each role
                ("answer_writer", pa.string()),
                ("rationale_writer", pa.string()),
            ),
        ),
        TableSchema(
            "unstar_written",
            1,
            _schema(
                # question; falsified (an answer's); falsified_reversed (a reversed question's)
                ("kind", pa.string()),
                ("target_id", pa.string()),
                ("variant", pa.string()),  # a question's variant type ("" for an answer)
                ("text", pa.string()),  # the question or the falsified answer
                ("expects", pa.string()),  # what answers the question ("" for an answer)
                ("position", pa.int64()),  # order: among all questions; among a target's answers
            ),
        ),
        TableSchema(
            "training_log",
            1,
            _schema(("step", pa.int64()), ("name", pa.string()), ("value", pa.float64())),
        ),
    )
}

# Artifacts that are files or directories rather than tables: name -> version.
FILE_KINDS: dict[str, int] = {"model": 1, "report": 1, "facts_request": 1}


def table_schema(name: str) -> TableSchema:
    if name not in TABLE_SCHEMAS:
        known = ", ".join(sorted(TABLE_SCHEMAS))
        raise KeyError(f"unknown table schema {name!r}; known: {known}")
    return TABLE_SCHEMAS[name]
