"""Forget quality's KS test and the field items of a sequences request."""

from __future__ import annotations

import math

import pytest

from forgetflow.memorization.windows import window_samples
from forgetflow.records import Sample
from forgetflow.utility.forget_quality import ALTERNATIVES, field_items, ks_forget_quality

RECORD = (
    "Name: Joshua Wood\nEmail: egarrett@example.net\nPhone: (974) 883-3788x120\n"
    "Address: 28601 Katherine Ramp, West Kimberlyview, NJ 78456\nBirth date: 1994-04-15\n"
    "SSN: 397-92-6995\nEmployer: Chandler-Ray\nBiography: Joshua Wood likes chess."
)


def test_separated_samples_give_the_exact_ks_p_value_and_equal_ones_give_one() -> None:
    low, high = [0.1 * k for k in range(1, 9)], [10.0 + k for k in range(8)]
    assert ks_forget_quality(low, high) == pytest.approx(2 / math.comb(16, 8), rel=1e-9)
    assert ks_forget_quality(low, low) == pytest.approx(1.0)
    assert math.isnan(ks_forget_quality([], high))


def test_each_pii_field_but_the_name_is_asked_with_the_record_up_to_it() -> None:
    items = field_items([Sample("r1", "forget", RECORD, repetitions=8)], seed=0)
    assert [i.item_id for i in items] == [f"r1/{f}" for f in
                                          ("Email", "Phone", "Address", "Birth date", "SSN",
                                           "Employer")]  # fmt: skip
    ssn = items[4]
    assert ssn.prompt == RECORD[: RECORD.index("SSN:") + 4] and ssn.answer == "397-92-6995"
    assert ssn.repetitions == 8
    for item in items:
        assert len(set(item.perturbed_answers)) == ALTERNATIVES
        assert item.answer not in item.perturbed_answers and item.prompt.endswith(":")


def test_a_records_windows_give_the_items_of_the_whole_record(tiny_model) -> None:
    _, tokenizer = tiny_model
    whole = Sample("r1", "forget", RECORD, repetitions=8)
    windows = window_samples([whole], tokenizer, window=24, min_tail=4)
    assert len(windows) > 2
    assert field_items(windows, seed=5) == field_items([whole], seed=5)
    assert field_items([whole], seed=5) != field_items([whole], seed=6)  # the alternatives
