"""Record fields and Faker values (data/pii.py)."""

from __future__ import annotations

from datetime import timedelta

from forgetflow.data.pii import record_fields


def test_record_fields_reads_field_lines() -> None:
    fields = record_fields("Name: A B\nnot a field\nEmpty: \nSSN: 1-2")
    assert fields == {"Name": "A B", "SSN": "1-2"}


def test_a_seed_gives_the_same_profiles_on_any_day(monkeypatch) -> None:
    import faker.providers.date_time as faker_dates

    from forgetflow.scenarios.world.profiles import make_profiles

    today = make_profiles(6, seed=0, biography_words=110)

    class Later(faker_dates.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return super().now(tz) + timedelta(days=400)

    monkeypatch.setattr(faker_dates, "datetime", Later)
    assert make_profiles(6, seed=0, biography_words=110) == today
