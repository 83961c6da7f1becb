"""Whether a text gives an answer: normalised answer strings, matched as whole words.

Three matchers, shared by the memorization metrics, the audit, utility and UnSTAR:
- `answer_matches`: the continuation starts with the answer (the QA extraction rule);
- `answer_given`: the completion answers, i.e. starts with the answer or says it in its first
  sentence; number words count as digits ("three" = "3", "twenty-one" = "21");
- `reveals`: the answer appears anywhere in the text as whole words, or, for an answer of at
  least FUZZY_MIN_CHARS characters, as a near-copy (rapidfuzz partial_ratio >= FUZZY_MIN_SCORE,
  each of its words near a word of the text).
- `semantic_match`: the cosine of two texts' sentence embeddings (a pulled MiniLM) reaches
  SEMANTIC_MIN. It cannot tell one name from another (docs/results.md: a completion naming a
  perturbed answer scores as high as one naming the true answer), so it is a logged signal,
  never the only reason a fact counts as given unless a caller is configured so.
`answer_given`, `reveals` and `semantic_match` return a Match that says why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rapidfuzz import fuzz

APOSTROPHES = frozenset("'\u2019")
FUZZY_MIN_CHARS = 4
FUZZY_MIN_SCORE = 90.0
FUZZY_WORD_SCORE = 80.0  # each answer word's nearest text word, for a fuzzy match
# cosine at which <= 1% of the world's (answer, perturbed answer) pairs match (docs/results.md)
SEMANTIC_MIN = 0.70

UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen", "twenty")  # fmt: skip
TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
        "ninety": 90}  # fmt: skip
NUMBER_WORDS = {word: value for value, word in enumerate(UNITS)} | TENS
# the end of a sentence: ., ! or ? before whitespace, or a line break
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


@dataclass(frozen=True)
class Match:
    """A matcher's answer: whether it matched, and why ("prefix", "whole_words", "fuzzy:93",
    or why not: "empty_answer", "absent")."""

    matched: bool
    reason: str

    def __bool__(self) -> bool:
        return self.matched


def normalise_answer(text: str) -> str:
    """Lowercase; apostrophes dropped ("O'Brien" = "OBrien"), other punctuation ends a word
    ("Mary." and "Mary.com" both start with the word "mary"); whitespace collapsed."""
    kept = "".join(
        "" if ch in APOSTROPHES else " " if unicodedata.category(ch).startswith("P") else ch
        for ch in text.lower()
    )
    return " ".join(kept.split())


def answer_words(text: str) -> tuple[str, ...]:
    """The words of normalise_answer(text), number words as digits: "Three" is "3", "twenty"
    is "20", and a tens word before a unit word is one number ("twenty-one" = "21")."""
    out: list[str] = []
    after_tens = False
    for word in normalise_answer(text).split():
        value = NUMBER_WORDS.get(word)
        if value is not None and 0 < value < 10 and after_tens:
            out[-1] = str(int(out[-1]) + value)
        else:
            out.append(word if value is None else str(value))
        after_tens = value is not None and value >= 20
    return tuple(out)


def starts_with(words: Sequence[str], prefix: Sequence[str]) -> bool:
    """Whether `words` begins with the whole words of a non-empty `prefix`."""
    return bool(prefix) and tuple(words[: len(prefix)]) == tuple(prefix)


def contains_words(words: Sequence[str], part: Sequence[str]) -> bool:
    """Whether the non-empty `part` occurs in `words` as consecutive whole words."""
    size = len(part)
    return bool(part) and any(
        tuple(words[i : i + size]) == tuple(part) for i in range(len(words) - size + 1)
    )


def answer_matches(answer: str, continuation: str) -> bool:
    """Whether the continuation starts with the answer, ending at a word boundary.

    The boundary check keeps "Max" from matching "Maxwell"; an empty answer never matches.
    Number words are not digits here (the QA extraction rule compares the words as written).
    """
    return starts_with(normalise_answer(continuation).split(), normalise_answer(answer).split())


def first_sentence(text: str, sentences: int = 1) -> str:
    """The first `sentences` sentences of `text` (ended by ., ! or ? before a space, or a line
    break), leading whitespace ignored."""
    return " ".join(SENTENCE_END.split(text.strip(), maxsplit=sentences)[:sentences])


def answer_given(answer: str, completion: str) -> Match:
    """Whether the completion gives the answer: its words start with the answer's ("prefix"),
    or its first sentence holds them as whole words ("first_sentence"). An answer that itself
    has sentence ends ("Dr. Lee") widens the first sentence by as many."""
    expected = answer_words(answer)
    if not expected:
        return Match(False, "empty_answer")
    if starts_with(answer_words(completion), expected):
        return Match(True, "prefix")
    breaks = len(SENTENCE_END.findall(answer.strip()))
    if contains_words(answer_words(first_sentence(completion, 1 + breaks)), expected):
        return Match(True, "first_sentence")
    return Match(False, "absent")


def near_words(expected: Sequence[str], got: Sequence[str]) -> bool:
    """Whether each expected word is near (rapidfuzz ratio >= FUZZY_WORD_SCORE) a word of `got`
    or two adjacent words of it joined ("bright line" for "brightline")."""
    candidates = [*got, *(a + b for a, b in zip(got, got[1:], strict=False))]
    return all(
        any(fuzz.ratio(word, c) >= FUZZY_WORD_SCORE for c in candidates) for word in expected
    )


def reveals(answer: str, text: str) -> Match:
    """Whether the text reveals the answer: anywhere as whole words ("whole_words"), or, for an
    answer of at least FUZZY_MIN_CHARS normalised characters, as a near-copy
    ("fuzzy:<partial_ratio rounded down>"): rapidfuzz partial_ratio >= FUZZY_MIN_SCORE, and
    every answer word near a word of the text, so that a long shared part ("... Institute of
    Technology") cannot carry a different name."""
    expected, got = answer_words(answer), answer_words(text)
    if not expected:
        return Match(False, "empty_answer")
    if contains_words(got, expected):
        return Match(True, "whole_words")
    needle = " ".join(expected)
    if len(needle) >= FUZZY_MIN_CHARS:
        score = fuzz.partial_ratio(needle, " ".join(got))
        if score >= FUZZY_MIN_SCORE and near_words(expected, got):
            return Match(True, f"fuzzy:{int(score)}")
    return Match(False, "absent")


class Similarity(Protocol):
    """What semantic_match needs of an embedder (models/embedder.py's Embedder)."""

    def similarity(self, a: str, b: str) -> float: ...


def semantic_match(
    answer: str, text: str, embedder: Similarity | None, threshold: float = SEMANTIC_MIN
) -> Match:
    """Whether the text's embedding is near the answer's: cosine >= threshold
    ("cosine:<two decimals>", also when it falls short); "no_embedder" without one (none was
    pulled), "empty_answer" for a blank answer or text."""
    if not answer.strip() or not text.strip():
        return Match(False, "empty_answer")
    if embedder is None:
        return Match(False, "no_embedder")
    score = embedder.similarity(answer, text)
    return Match(score >= threshold, f"cosine:{score:.2f}")
