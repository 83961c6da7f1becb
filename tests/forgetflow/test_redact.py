"""Redaction of texts for the tool's own stores (redact.py)."""

from __future__ import annotations

import hashlib

from forgetflow.redact import redact_fields, text_digest


def test_a_digest_is_the_sha256_prefix_of_the_utf8_text() -> None:
    assert text_digest("Zoë") == hashlib.sha256("Zoë".encode()).hexdigest()[:12]
    assert text_digest("a") != text_digest("b")


def test_named_text_fields_become_digest_and_length_in_place() -> None:
    row = {"model": "after", "answer": "+1-651-842-9635", "given": True, "question": None}
    out = redact_fields(row, ("answer", "question"))
    assert list(out) == ["model", "answer_sha256", "answer_chars", "given", "question"]
    assert out["answer_sha256"] == text_digest("+1-651-842-9635") and out["answer_chars"] == 15
    assert "+1-651-842-9635" not in repr(out) and out["question"] is None  # not a text: kept
