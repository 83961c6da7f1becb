"""The leak filter: whether an anti-sample's text gives away the true answer it must replace.

Stricter than the answer matcher's `reveals` (data/answers.py), because a rejected anti-sample
costs one training row while an accepted leak trains the very answer being cut. A text leaks an
answer when:
- `reveals` finds it: as whole words (any case, number words as digits: "twenty-one" = "21"), or,
  for an answer of at least four characters, as a near-copy ("Brightlyne");
- "inside_word": one word of the text starts or ends with the answer's letters (four or more),
  or holds them anywhere when they are LONG_INSIDE_CHARS or more ("Parisian", "BrightlineCorp",
  "NewParis"; not "climate" for "Lima");
- "spacing": words of the text run together spell the answer from a word's start ("Bright
  line", "B r i g h t l i n e").
"""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.data.answers import Match, answer_words, reveals

MIN_INSIDE_CHARS = 4  # shorter answers ("Ox", "12") match as whole words only
LONG_INSIDE_CHARS = 6  # this long, the answer inside any word is no coincidence


def compact(text: str) -> str:
    """The text's normalised words (number words as digits) run together."""
    return "".join(answer_words(text))


def inside(needle: str, word: str) -> bool:
    """Whether `word` starts or ends with `needle`, or holds a long one anywhere."""
    if len(needle) >= LONG_INSIDE_CHARS:
        return needle in word
    return word.startswith(needle) or word.endswith(needle)


def spelled_across(needle: str, words: Sequence[str]) -> bool:
    """Whether consecutive `words` joined from one word's start begin with `needle`."""
    for start in range(len(words)):
        joined = ""
        for word in words[start:]:
            joined += word
            if len(joined) >= len(needle):
                break
        if joined.startswith(needle):
            return True
    return False


def leak(answer: str, text: str) -> Match:
    """Whether `text` leaks `answer`, and how (see the module's docstring); "absent" if not."""
    found = reveals(answer, text)
    if found or found.reason == "empty_answer":
        return found
    needle, words = compact(answer), answer_words(text)
    if len(needle) >= MIN_INSIDE_CHARS:
        if any(inside(needle, word) for word in words):
            return Match(True, "inside_word")
        if spelled_across(needle, words):
            return Match(True, "spacing")
    return Match(False, "absent")


def leak_reason(spellings: Sequence[str], text: str) -> str | None:
    """Why `text` leaks one of an answer's spellings ("<reason>:<spelling>"), or None."""
    for spelling in spellings:
        found = leak(spelling, text)
        if found:
            return f"{found.reason}:{spelling}"
    return None
