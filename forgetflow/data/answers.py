"""Whether a continuation gives an answer: normalised, prefix-matched answer strings."""

from __future__ import annotations

import unicodedata

APOSTROPHES = frozenset("'\u2019")


def normalise_answer(text: str) -> str:
    """Lowercase; apostrophes dropped ("O'Brien" = "OBrien"), other punctuation ends a word
    ("Mary." and "Mary.com" both start with the word "mary"); whitespace collapsed."""
    kept = "".join(
        "" if ch in APOSTROPHES else " " if unicodedata.category(ch).startswith("P") else ch
        for ch in text.lower()
    )
    return " ".join(kept.split())


def answer_matches(answer: str, continuation: str) -> bool:
    """Whether the continuation starts with the answer, ending at a word boundary.

    The boundary check keeps "Max" from matching "Maxwell"; an empty answer never matches.
    """
    expected, got = normalise_answer(answer), normalise_answer(continuation)
    if not expected or not got.startswith(expected):
        return False
    return len(got) == len(expected) or got[len(expected)] == " "
