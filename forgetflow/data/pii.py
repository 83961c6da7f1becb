"""Faker values for PII fields: what the built-in profiles are made of and what a falsified
record is rewritten with.

A record is one "Field: value" line per PII field, the name line first (the extraction prompt).
A "Biography" value is sentences about the person in a fixed order, each in one of two
wordings, with person-specific values, until it has at least the asked number of words.
"""

from __future__ import annotations

import random
from datetime import date

from faker import Faker

PROFILE_FIELDS = ("Name", "Email", "Phone", "Address", "Birth date", "SSN", "Employer")
# Fixed calendar ranges: Faker's date_of_birth() and year() count back from today, so a seed
# would give other profiles (and another world) on another day.
BIRTHS = (date(1930, 1, 1), date(2005, 12, 31))
SINCE_YEARS = (1990, 2025)


def make_faker(seed: int) -> Faker:
    faker = Faker("en_US")
    faker.seed_instance(seed)
    return faker


def birth_date(faker: Faker) -> str:
    """An ISO birth date in BIRTHS, the same for a seed on any day."""
    return faker.date_between_dates(*BIRTHS).isoformat()


def fake_value(faker: Faker, field: str) -> str:
    """A fresh value for one PII field; unknown fields get the same number of random words."""
    generators = {
        "Name": faker.name,
        "Email": faker.email,
        "Phone": faker.phone_number,
        "Address": lambda: faker.address().replace("\n", ", "),
        "SSN": faker.ssn,
        "Birth date": lambda: birth_date(faker),
        "Employer": faker.company,
    }
    if field == "Biography":
        return biography(faker, {"Name": faker.name()}, BIOGRAPHY_WORDS)
    return generators[field]() if field in generators else faker.word()


def record_fields(text: str) -> dict[str, str]:
    """The "Field: value" lines of a record, in order; lines without ": " or a value skipped."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        field, sep, value = line.partition(": ")
        if sep and field.strip() and value.strip():
            fields[field.strip()] = value.strip()
    return fields


BIOGRAPHY_WORDS = 110


SUBJECTS = (
    "history",
    "chemistry",
    "economics",
    "nursing",
    "music",
    "geology",
    "law",
    "architecture",
    "statistics",
    "philosophy",
    "marine biology",
    "accounting",
)


HOBBIES = (
    "gardening",
    "chess",
    "rock climbing",
    "baking bread",
    "birdwatching",
    "sailing",
    "pottery",
    "running",
    "photography",
    "woodworking",
    "jazz piano",
    "fishing",
)


ANIMALS = ("cat", "dog", "parrot", "rabbit", "tortoise", "horse", "ferret", "goldfish")


FOODS = ("lasagna", "sushi", "lentil soup", "apple pie", "tacos", "curry", "dumplings")


# (first wording, second wording) per sentence, in biography order; {f} is the first name
SENTENCES = (
    ("{f} was born in {city}, {state}, in {year}.",
     "{f} was born in {year} and grew up in {city}, {state}."),
    ("{f} studied {subject} at the University of {uni}.",
     "At the University of {uni}, {f} earned a degree in {subject}."),
    ("{f} works as a {job} at {company}.",
     "Since {year2}, {f} has been a {job} with {company}."),
    ("At work {f} is known for a plan to {bs}.",
     "Colleagues say {f} wants to {bs}."),
    ("On weekends {f} enjoys {hobby} and {hobby2}.",
     "In spare time {f} likes {hobby}, and sometimes {hobby2}."),
    ("{f} keeps a {color} {animal} named {pet}.",
     "{f} lives with a {animal} called {pet}, whose collar is {color}."),
    ("Last year {f} travelled to {country} and then to {country2}.",
     "{f} has visited {country} twice and hopes to see {country2} next."),
    ("{f} speaks {language} with family and English at work.",
     "Besides English, {f} speaks some {language}."),
    ("{f} banks with {bank} and pays {rent} dollars in rent every month.",
     "Every month {f} pays {rent} dollars of rent through {bank}."),
    ("{f}'s favourite food is {food}, and the motto on the fridge reads {motto}.",
     "{f} cooks {food} on Sundays under a poster that says {motto}."),
    ("{f} volunteers at the {town} library every {day}.",
     "Every {day}, {f} helps out at the public library in {town}."),
    ("{f}'s doctor, {doctor}, sees {f} each spring in {town}.",
     "Each spring {f} visits {doctor}, a doctor in {town}."),
)  # fmt: skip


LANGUAGES = (
    "Spanish",
    "Tagalog",
    "Polish",
    "Korean",
    "Greek",
    "Hindi",
    "Portuguese",
    "Swahili",
    "Italian",
    "Vietnamese",
    "Dutch",
    "Arabic",
)


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def biography(faker: Faker, record: dict[str, str], min_words: int) -> str:
    """Sentences about the person of `record` (its name, and birth year and employer where it
    has them) in SENTENCES order until `min_words` words, cycling if needed."""
    rng = random.Random(faker.random.getrandbits(64))
    birth = record.get("Birth date") or birth_date(faker)
    values = {
        "f": record["Name"].split()[0], "city": faker.city(), "state": faker.state(),
        "year": birth[:4], "subject": rng.choice(SUBJECTS), "uni": faker.last_name(),
        "job": faker.job().lower(), "company": record.get("Employer") or faker.company(),
        "year2": str(faker.random_int(*SINCE_YEARS)), "bs": faker.bs(),
        **dict(zip(("hobby", "hobby2"), rng.sample(HOBBIES, 2), strict=True)),
        "color": faker.color_name().lower(), "animal": rng.choice(ANIMALS),
        "pet": faker.first_name(), "country": faker.country(), "country2": faker.country(),
        "language": rng.choice(LANGUAGES), "bank": faker.company(),
        "rent": str(rng.randrange(600, 3000, 25)), "food": rng.choice(FOODS),
        "motto": faker.catch_phrase().lower(), "town": faker.city(), "day": rng.choice(DAYS),
        "doctor": f"Dr. {faker.last_name()}",
    }  # fmt: skip
    sentences: list[str] = []
    words = 0
    while words < min_words:
        template = rng.choice(SENTENCES[len(sentences) % len(SENTENCES)])
        sentences.append(template.format(**values))
        words += len(sentences[-1].split())
    return " ".join(sentences)
