"""The configuration reference (flows/config_reference.py): every key a user can write in a
pipeline config carries a description, and the schema walk reaches every settings object,
through references, optional objects and each choice of a discriminated union."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from flows.config_reference import Table, config_tables, tables
from forgetflow.unlearning.methods.registry import METHODS


def undescribed(found: list[Table]) -> list[str]:
    return [f"{row.path} ({table.variant or table.title})" for table in found
            for row in table.rows if not row.description.strip()]  # fmt: skip


def test_every_key_of_a_pipeline_config_has_a_description() -> None:
    missing = undescribed(config_tables())
    assert missing == [], "add a description= to: " + ", ".join(missing)


class Plain(BaseModel):
    kind: Literal["plain"] = Field("plain", description="a plain choice")
    size: int = Field(1, ge=1, description="its size")


class Other(BaseModel):
    kind: Literal["other"] = "other"


class Leaf(BaseModel):
    depth: int | None = None


class Root(BaseModel):
    choice: Annotated[Plain | Other, Field(discriminator="kind")] = Field(
        Plain(size=3), description="one of two"
    )
    leaf: Leaf | None = Field(None, description="optional")


def test_the_walk_follows_unions_and_optional_objects_and_names_what_lacks_a_description() -> None:
    schema = Root.model_json_schema()
    found = list(tables(schema, "", schema["$defs"]))
    assert [(t.path, t.variant) for t in found] == [
        ("", ""), ("choice", "kind: plain"), ("choice", "kind: other"), ("leaf", "")
    ]  # fmt: skip
    rows = {(row.path, table.variant): row for table in found for row in table.rows}
    assert rows["choice", ""].type == "by `kind`: plain or other"
    assert rows["choice", ""].default == "kind: plain"
    assert rows["choice.size", "kind: plain"].default == "3"  # the field's default, not Plain's
    assert rows["choice.size", "kind: plain"].type == "integer, >= 1"
    assert rows["leaf.depth", ""].type == "integer or null"
    assert undescribed(found) == ["choice.kind (kind: other)", "leaf.depth (Leaf)"]


def test_every_method_and_data_kind_has_its_table_with_the_pipeline_defaults() -> None:
    found = config_tables()
    variants = {(t.path, t.variant) for t in found}
    assert {("unlearning.method", f"name: {name}") for name in METHODS.names()} <= variants
    assert {("data", f"kind: {kind}") for kind in ("world", "finetuned", "files")} <= variants
    defaults = {row.path: row.default for t in found for row in t.rows}
    assert defaults["antisamples.generator.name"] == '"template"'
    assert defaults["audit.generator.name"] == '"hf"'
    assert defaults["thresholds.outliers.rule"] == '"quantile"'
    assert defaults["data.model"] == "*required*"
