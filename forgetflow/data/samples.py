"""The `samples` table: list[Sample] <-> pa.Table in the declared schema (forgetflow.schemas)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields

import pyarrow as pa

from forgetflow.records import Sample
from forgetflow.schemas import table_schema

COLUMNS = tuple(f.name for f in fields(Sample))


def samples_table(samples: Sequence[Sample]) -> pa.Table:
    """The samples as a `samples` table, columns in the declared order and types."""
    declared = table_schema("samples").schema
    rows = [astuple(s) for s in samples]
    columns = {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}
    return pa.table(columns).select(declared.names).cast(declared)


def samples_from_table(table: pa.Table) -> list[Sample]:
    """The samples of a `samples` table."""
    rows = table.select(list(COLUMNS)).to_pylist()
    return [Sample(**row | {"paraphrases": tuple(row["paraphrases"])}) for row in rows]
