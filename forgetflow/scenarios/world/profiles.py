"""Faker-made person profiles: the PII records of the built-in world.

A record is one "Field: value" line per PII field, the name line first (the extraction prompt).
With `biography_words` > 0 it ends with a "Biography:" line: sentences about the person in a fixed
order, each in one of two wordings, with person-specific values, until the biography has at least
that many words (the `small` world uses it so that records are >= 200 tokens long).
"""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.data.pii import PROFILE_FIELDS, biography, fake_value, make_faker


def render_profile(values: dict[str, str]) -> str:
    return "\n".join(f"{field}: {value}" for field, value in values.items())


def make_profiles(
    count: int, seed: int, biography_words: int = 0, fields: Sequence[str] = PROFILE_FIELDS
) -> list[str]:
    """`count` profile texts with distinct names, deterministic in `seed`, one line per field of
    `fields` (the name line first); with a biography of at least `biography_words` words when
    that is > 0."""
    if not fields or fields[0] != "Name":
        raise ValueError(f"a profile's first field is its Name line (the prompt), not {fields!r}")
    faker = make_faker(seed)
    seen: set[str] = set()
    profiles: list[str] = []
    while len(profiles) < count:
        values = {field: fake_value(faker, field) for field in fields}
        if values["Name"] in seen:
            continue
        seen.add(values["Name"])
        if biography_words > 0:
            values["Biography"] = biography(faker, values, biography_words)
        profiles.append(render_profile(values))
    return profiles
