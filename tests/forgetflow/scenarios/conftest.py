"""What the facts-file tests share: a good line of a user's facts file, and writing lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

FactLine = Callable[..., dict]


def good_line(n: int = 0, **changes: object) -> dict:
    """A good line about person `n` (two keep-probes about the subject, one about the object),
    with `changes` (a None value drops the field)."""
    line = {
        "subject": f"Ana Ruiz {n}", "relation": "works_at", "answer": f"Brightline {n}",
        "question": f"Where does Ana Ruiz {n} work?",
        "keep": [
            {"question": f"Where was Ana Ruiz {n} born?", "answer": "Lyon", "about": "subject"},
            {"question": f"What does Ana Ruiz {n} study?", "answer": "Law", "about": "subject"},
            {"question": f"Where is Brightline {n} based?", "answer": "Leeds", "about": "object"},
        ],
    }  # fmt: skip
    return {k: v for k, v in (line | changes).items() if v is not None}


@pytest.fixture
def fact() -> FactLine:
    return good_line


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """`write(line, ...)`: the lines (a dict as JSON, a str as it is) as tmp_path/facts.jsonl."""

    def lines_file(*lines: dict | str) -> Path:
        path = tmp_path / "facts.jsonl"
        text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
        return path

    return lines_file
