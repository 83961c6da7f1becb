from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from forgetflow.data.answers import Match, answer_given, answer_words, reveals
from forgetflow.scenarios.world.facts import make_people, object_items, qa_items


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Three cats", ("3", "cats")),
        ("twenty-one", ("21",)),
        ("Twenty one", ("21",)),
        ("twenty", ("20",)),
        ("ninety nine.", ("99",)),
        ("twenty twenty-one", ("20", "21")),
        ("one two", ("1", "2")),
        ("twenty zero", ("20", "0")),
        ("  O'Brien,  Inc. ", ("obrien", "inc")),
        ("someone", ("someone",)),
    ],
)
def test_answer_words_normalise_and_read_number_words_as_digits(
    text: str, words: tuple[str, ...]
) -> None:
    assert answer_words(text) == words


def expected(reason: str) -> Match:
    return Match(reason not in ("absent", "empty_answer"), reason)


@pytest.mark.parametrize(
    ("answer", "completion", "reason"),
    [
        ("Springfield", " springfield, Illinois. He moved.", "prefix"),
        ("Lake  Mary", "LAKE MARY\nQuestion: where", "prefix"),
        ("3", " Three.", "prefix"),
        ("twenty-one", "21 years", "prefix"),
        ("Springfield", "She was born in Springfield, Illinois.", "first_sentence"),
        ("Dr. Lee", "Her doctor is Dr. Lee. He is kind.", "first_sentence"),
        ("Springfield", "She was born in Ohio. Later: Springfield.", "absent"),
        ("Springfield", "Question: where?\nSpringfield", "absent"),
        ("Max", "Maxwell", "absent"),
        ("Max", "It is Maxwell.", "absent"),
        ("Springfield", "Spring field", "absent"),
        ("3", "thirty", "absent"),
        ("", "anything", "empty_answer"),
        ("Springfield", "", "absent"),
    ],
)
def test_answer_given(answer: str, completion: str, reason: str) -> None:
    assert answer_given(answer, completion) == expected(reason)


@pytest.mark.parametrize(
    ("answer", "text", "reason"),
    [
        ("Springfield", "after a while. then springfield!", "whole_words"),
        ("Ward, Johnson and Nash", "works for ward johnson and  nash now", "whole_words"),
        ("seven", "he has 7 cats", "whole_words"),
        ("Brightline Systems", "She works at Brightlime Systems now.", "fuzzy:94"),
        ("Max", "Maxwell", "absent"),  # too short for a fuzzy match
        ("Maxi", "Maxwell", "absent"),
        ("Hall Institute of Technology", "Crawford Institute of Technology", "absent"),
        ("Springfield", "Shelbyville", "absent"),
        ("", "anything", "empty_answer"),
    ],
)
def test_reveals(answer: str, text: str, reason: str) -> None:
    assert reveals(answer, text) == expected(reason)


def test_a_match_is_true_when_matched() -> None:
    assert answer_given("Paris", "Paris") and not reveals("Paris", "Rome")


Matcher = Callable[[str, str], Match]
FALSE_MATCH_LIMIT = 0.01


def check_calibration(items: Iterable[tuple[str, str, list[str]]], matcher: Matcher) -> None:
    """On (answer, paraphrased answer, perturbed answers) items: every true answer, alone and as
    its sentence, matches; a perturbed answer, alone or put in the sentence, matches at most
    FALSE_MATCH_LIMIT of the time."""
    trials = false = 0
    for answer, sentence, perturbed in items:
        assert matcher(answer, answer) and matcher(answer, sentence), (answer, sentence)
        for wrong in perturbed:
            for completion in (wrong, sentence.replace(answer, wrong)):
                trials += 1
                false += bool(matcher(answer, completion))
    assert trials > 0 and false / trials <= FALSE_MATCH_LIMIT, f"{false} of {trials}"


@pytest.mark.parametrize("matcher", [answer_given, reveals])
def test_calibration_on_the_tiny_worlds_perturbed_answers(tiny_world, matcher: Matcher) -> None:
    rows = tiny_world.table("qa").to_pylist()
    check_calibration(
        ((r["answer"], r["paraphrased_answer"], r["perturbed_answers"]) for r in rows), matcher
    )


@pytest.mark.parametrize("matcher", [answer_given, reveals])
def test_calibration_on_many_people(matcher: Matcher) -> None:
    people = make_people(200, seed=0)
    items = [q for p in people for q in qa_items(p)] + object_items(people, seed=0)
    check_calibration(
        ((q.answer, q.paraphrased_answer, list(q.perturbed_answers)) for q in items), matcher
    )
