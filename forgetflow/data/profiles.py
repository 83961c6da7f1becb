"""Faker-made person profiles: the PII records of the built-in world."""

from __future__ import annotations

from faker import Faker

PROFILE_FIELDS = ("Name", "Email", "Phone", "Address", "Birth date", "SSN", "Employer")


def make_faker(seed: int) -> Faker:
    faker = Faker("en_US")
    faker.seed_instance(seed)
    return faker


def fake_value(faker: Faker, field: str) -> str:
    """A fresh value for one PII field; unknown fields get the same number of random words."""
    generators = {
        "Name": faker.name,
        "Email": faker.email,
        "Phone": faker.phone_number,
        "Address": lambda: faker.address().replace("\n", ", "),
        "SSN": faker.ssn,
        "Birth date": lambda: faker.date_of_birth().isoformat(),
        "Employer": faker.company,
    }
    return generators[field]() if field in generators else faker.word()


def render_profile(values: dict[str, str]) -> str:
    return "\n".join(f"{field}: {value}" for field, value in values.items())


def make_profiles(count: int, seed: int) -> list[str]:
    """`count` profile texts with distinct names, deterministic in `seed`."""
    faker = make_faker(seed)
    seen: set[str] = set()
    profiles: list[str] = []
    while len(profiles) < count:
        values = {field: fake_value(faker, field) for field in PROFILE_FIELDS}
        if values["Name"] in seen:
            continue
        seen.add(values["Name"])
        profiles.append(render_profile(values))
    return profiles
