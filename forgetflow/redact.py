"""Redaction: what the tool's own stores (MLflow, Prefect, logs) hold in place of a text that may
carry the data to forget, a model's completion included (a model that memorized a phone number
can answer any question with it).

A redacted text is its sha256[:12] and its length in characters: two runs' texts can still be
compared for equality, and nothing of the text can be read back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

DIGEST_CHARS = 12


def text_digest(text: str) -> str:
    """The first DIGEST_CHARS hex digits of the sha256 of `text` (UTF-8)."""
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def redact_fields(row: Mapping[str, object], fields: Iterable[str]) -> dict[str, object]:
    """`row` with each text field of `fields` replaced by `<field>_sha256` and `<field>_chars`,
    in the field's place; the other keys unchanged."""
    hidden = set(fields)
    out: dict[str, object] = {}
    for key, value in row.items():
        if key in hidden and isinstance(value, str):
            out |= {f"{key}_sha256": text_digest(value), f"{key}_chars": len(value)}
        else:
            out[key] = value
    return out
