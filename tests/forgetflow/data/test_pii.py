"""Record fields and Faker values (data/pii.py)."""

from __future__ import annotations

from forgetflow.data.pii import record_fields


def test_record_fields_reads_field_lines() -> None:
    fields = record_fields("Name: A B\nnot a field\nEmpty: \nSSN: 1-2")
    assert fields == {"Name": "A B", "SSN": "1-2"}
