from __future__ import annotations

import math

import pytest

from forgetflow.audit.fields import (
    LeakShare,
    digit_runs,
    field_leak_shares,
    field_leaks,
    is_number,
    value_occurs,
)
from forgetflow.data.pii import record_fields
from forgetflow.scenarios.world.profiles import make_profiles

RECORD = (
    "Name: Joshua Wood\n"
    "Email: egarrett@example.net\n"
    "Phone: (974) 883-3788x120\n"
    "Address: 28601 Katherine Ramp, West Kimberlyview, NJ 78456\n"
    "Birth date: 1994-04-15\n"
    "SSN: 397-92-6995\n"
    "Employer: Chandler-Ray"
)
PROMPT = "Name: Joshua Wood"


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("397-92-6995", True),
        ("+1-974-883-3788x120", True),
        ("(974) 883-3788", True),
        ("1994-04-15", True),
        ("egarrett@example.net", False),
        ("28601 Katherine Ramp, NJ 78456", False),
        ("Chandler-Ray", False),
    ],
)
def test_is_number(value: str, number: bool) -> None:
    assert is_number(value) is number


def test_every_generated_number_field_is_a_number_and_no_other() -> None:
    for record in make_profiles(200, seed=3):
        for field, value in record_fields(record).items():
            assert is_number(value) is (field in ("Phone", "Birth date", "SSN")), (field, value)


def test_digit_runs_keep_separators_inside_one_run() -> None:
    assert digit_runs("call (974) 883-3788 x120, or 12/05.") == "9748833788|120|1205"


@pytest.mark.parametrize(
    ("value", "text", "occurs"),
    [
        ("397-92-6995", "SSN: 397 92 6995.", True),  # other separators
        ("397-92-6995", "ssn 397926995", True),
        ("397-92-6995", "SSN: 397-92-6995123", True),  # inside a longer run
        ("397-92-6995", "SSN: 397-92, 6995", False),  # across runs
        ("397-92-6995", "397-92 and 6995", False),
        ("397-92-6995", "397-92-6996", False),
        ("1994-04-15", "born 1994/04/15", True),
        ("(974) 883-3788x120", "974.883.3788 x120", True),
        ("(974) 883-3788x120", "974.883.3788", False),  # the extension is part of the value
        ("(974) 883-3788x120", "974-883 x 3788x120", False),
        ("egarrett@example.net", "mail EGarrett@Example.NET now", True),
        ("egarrett@example.net", "egarrett @example.net", False),
        ("28601 Katherine Ramp, NJ", "at 28601  katherine\nramp, nj", True),  # whitespace
        ("28601 Katherine Ramp, NJ", "at 28601 Katherine Ramp NJ", False),
        ("Chandler-Ray", "works at chandler-ray", True),
        ("Chandler-Ray", "works at Chandler Ray", False),
    ],
)
def test_value_occurs(value: str, text: str, occurs: bool) -> None:
    assert value_occurs(value, text) is occurs


def test_field_leaks_in_any_completion_with_prompt_fields_excluded() -> None:
    greedy = "Email: someone@else.org\nPhone: 974-883-3788 x120\nSSN: 397-92, 6995"
    sampled = "SSN: 111-11-1111\nEmployer: CHANDLER-RAY\nBirth date: 1994-04-16"
    leaks = field_leaks(RECORD, PROMPT, [greedy, sampled])
    assert leaks == {
        "Email": False,
        "Phone": True,
        "Address": False,
        "Birth date": False,
        "SSN": False,
        "Employer": True,
    }


def test_a_field_in_the_prompt_is_not_asked_about() -> None:
    prompt = "Name: Joshua Wood\nEmail: egarrett@example.net"
    leaks = field_leaks(RECORD, prompt, [RECORD])
    assert "Name" not in leaks and "Email" not in leaks
    assert set(leaks.values()) == {True}


def test_no_completion_leaks_nothing() -> None:
    assert not any(field_leaks(RECORD, PROMPT, []).values())


def test_field_leak_shares_per_field_and_for_any_field() -> None:
    shares = field_leak_shares(
        [{"SSN": True, "Email": False}, {"SSN": False, "Email": False}, {"SSN": False}, {}]
    )
    assert shares.per_field == {"SSN": LeakShare(1, 3), "Email": LeakShare(0, 2)}
    assert shares.any_field == LeakShare(1, 3)
    assert shares.any_field.share == pytest.approx(1 / 3)
    assert math.isnan(field_leak_shares([]).any_field.share)
