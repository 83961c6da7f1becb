"""The leak filter on constructed leaks: each case is decided by how the text is written."""

from __future__ import annotations

import pytest

from forgetflow.antisamples.leak_filter import leak, leak_reason

WHOLE, FUZZY, INSIDE, SPACING = "whole_words", "fuzzy", "inside_word", "spacing"
LEAKS = [
    # (answer, text, the reasons that may catch it: the first rule that holds names the leak)
    ("Brightline", "She has always worked at BRIGHTLINE.", (WHOLE,)),
    ("Brightline", "she works at brightline, downtown", (WHOLE,)),
    ("Brightline", "Her employer is Bright line, a bank.", (FUZZY, SPACING)),
    ("Brightline", "Her employer is B r i g h t l i n e.", (SPACING,)),
    ("Lima", "They flew to Li ma on Monday.", (FUZZY, SPACING)),
    ("Brightline", "Everyone knows Brightline's offices.", (FUZZY, INSIDE)),
    ("Brightline", "She joined BrightlineCorp in 2010.", (FUZZY, INSIDE)),
    ("Paris", "A Parisian by birth, she moved.", (INSIDE,)),
    ("Paris", "She lives in NewParis now.", (INSIDE,)),
    ("Brightline", "She works at Brightlyne these days.", (FUZZY,)),
    ("Brightline", "She works at Brigthline these days.", (FUZZY,)),
    ("21", "It has twenty-one protons.", (WHOLE,)),
    ("twenty-one", "It has 21 protons.", (WHOLE,)),
    ("Three", "The answer is 3, not four.", (WHOLE,)),
    ("O'Brien", "She married Obrien last year.", (WHOLE,)),
    ("Ana Ruiz", "Everyone calls her ana   ruiz.", (WHOLE,)),
]


@pytest.mark.parametrize(("answer", "text", "reasons"), LEAKS)
def test_a_constructed_leak_is_caught(answer: str, text: str, reasons: tuple[str, ...]) -> None:
    found = leak(answer, text)
    assert found.matched
    assert found.reason.split(":")[0] in reasons


CLEAN = [
    ("Brightline", "She works at Northwind, a shipping firm."),
    ("Paris", "The capital is Lyon, on the Rhone."),
    ("Lima", "The climate of Quito is mild all year."),  # inside a word, neither end
    ("Lima", "We saw all images of Quito."),  # across words, from no word's start
    ("Max", "Her pet is called Maxwell."),  # too short to match inside a word
    ("21", "It has 12 protons."),
    ("Ana Ruiz", "Maria Lopez studied there."),
]


@pytest.mark.parametrize(("answer", "text"), CLEAN)
def test_a_text_without_the_answer_passes(answer: str, text: str) -> None:
    assert not leak(answer, text)


def test_an_empty_answer_never_leaks() -> None:
    found = leak("  ", "anything at all")
    assert not found and found.reason == "empty_answer"


def test_every_spelling_is_checked_and_named() -> None:
    assert leak_reason(("Kyiv", "Kiev"), "The city of Kiev lies on the Dnieper.") == (
        "whole_words:Kiev"
    )
    assert leak_reason(("Kyiv", "Kiev"), "The city of Lviv lies in the west.") is None
