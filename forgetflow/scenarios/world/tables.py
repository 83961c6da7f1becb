"""The world's tables as Arrow: its items (every training text with its split and exposures),
its facts as QA items, and its fine-grained targets."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from forgetflow.scenarios.world.corpus import Corpus, Item

ITEMS_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("family", pa.string()),
        ("split", pa.string()),
        ("repetitions", pa.int64()),
        ("text", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("variants", pa.list_(pa.string())),  # other wordings (corpus.Item)
    ]
)
QA_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),  # the row of its "Question: ... Answer: ..." text in items
        ("family", pa.string()),
        ("split", pa.string()),
        ("repetitions", pa.int64()),
        ("item_id", pa.string()),
        ("subject", pa.string()),
        ("relation", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("paraphrased_questions", pa.list_(pa.string())),
        ("paraphrased_answer", pa.string()),
        ("perturbed_answers", pa.list_(pa.string())),
        ("trained_paraphrases", pa.int64()),
    ]
)
TARGETS_SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("family", pa.string()), ("split", pa.string()),
    ("repetitions", pa.int64()), ("subject", pa.string()), ("relation", pa.string()),
    ("object", pa.string()), ("item_id", pa.string()),
    ("subject_probe_ids", pa.list_(pa.string())),  # item_ids of qa rows
    ("object_probe_ids", pa.list_(pa.string())),
])  # fmt: skip
TABLE_SCHEMAS = {"items": ITEMS_SCHEMA, "qa": QA_SCHEMA, "targets": TARGETS_SCHEMA}


def items_table(items: list[Item]) -> pa.Table:
    return pa.Table.from_pylist([dataclasses.asdict(i) for i in items], schema=ITEMS_SCHEMA)


def qa_table(corpus: Corpus) -> pa.Table:
    """Every fact as a QA item: people's facts (family qa) and the objects' own (family object)."""
    text_rows = {(i.family, i.question, i.answer): i.sample_id for i in corpus.items
                 if i.family in ("qa", "object")}  # fmt: skip
    rows = []
    for split, r, q in corpus.qa:
        family = "object" if q.item_id.startswith("object:") else "qa"
        rows.append({"sample_id": text_rows[family, q.question, q.answer], "family": family,
                     "split": split, "repetitions": r, "item_id": q.item_id,
                     "subject": q.subject, "relation": q.relation, "question": q.question,
                     "answer": q.answer, "paraphrased_questions": list(q.paraphrased_questions),
                     "paraphrased_answer": q.paraphrased_answer,
                     "perturbed_answers": list(q.perturbed_answers),
                     "trained_paraphrases": q.trained_paraphrases})  # fmt: skip
    return pa.Table.from_pylist(rows, schema=QA_SCHEMA)


def targets_table(corpus: Corpus) -> pa.Table:
    reps = {q.item_id: r for _, r, q in corpus.qa}
    rows = [{"sample_id": f"qa-{t.item.item_id}", "family": "target", "split": "retain",
             "repetitions": reps[t.item.item_id], "subject": t.subject, "relation": t.relation,
             "object": t.object, "item_id": t.item.item_id,
             "subject_probe_ids": [p.item_id for p in t.subject_probes],
             "object_probe_ids": [p.item_id for p in t.object_probes]}
            for t in corpus.targets]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=TARGETS_SCHEMA)
