"""Fictitious people and their facts (TOFU-style QA) for the built-in memorization world.

Each person has one object per relation (birth city, employer, ...). Objects come from fixed pools
of POOL_SIZE values drawn with replacement, so several people share an object, and the pools are
large enough that a model that never saw a person cannot guess its facts. Objects have facts of
their own (a city's state, a book's author), which give object-only probes.

The pools are built from the constant POOL_SEED rather than the world seed so that a QAItem,
including its perturbed answers from the same pool, can be made from a Person alone. The world seed
picks the names, which objects each person gets, the objects' own facts and the targets: use one
seed for `make_people`, `object_items` and `make_targets` of the same world.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from forgetflow.data.pii import make_faker
from forgetflow.hashing import stable_seed

POOL_SEED = 1729
POOL_SIZE = 64
PERTURBED_ANSWERS = 3
# The question and the first two paraphrases may appear in training text; the last paraphrase
# never does, so it measures whether forgetting generalises beyond the trained wordings. Which
# of a relation's paraphrase templates comes last rotates over facts (`_make_item`).
TRAINED_PARAPHRASES = 2

RELATIONS = ("born_in", "works_at", "studied_at", "married_to", "pet_name", "favourite_book")
# person relation -> the relation that describes its object; a pet name is only a first name
# shared by unrelated pets, so it has no fact of its own.
OBJECT_RELATIONS = {
    "born_in": "state_of",
    "works_at": "founded_in",
    "studied_at": "located_in",
    "married_to": "hometown",
    "favourite_book": "author",
}
# relation -> the pool its answers (and perturbed answers) come from
ANSWER_POOLS = {
    **{relation: relation for relation in RELATIONS},
    "state_of": "state",
    "founded_in": "born_in",
    "located_in": "born_in",
    "hometown": "born_in",
    "author": "author",
}


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    facts: dict[str, str]  # relation -> object


@dataclass(frozen=True)
class QAItem:
    item_id: str  # f"{person_id}/{relation}" or f"object:{relation}:{subject}"
    subject: str
    relation: str
    question: str  # the trained phrasing
    answer: str
    paraphrased_questions: tuple[str, ...]  # the first `trained_paraphrases` may be trained on
    paraphrased_answer: str  # the answer as a full sentence
    perturbed_answers: tuple[str, ...]  # wrong answers from the same pool
    trained_paraphrases: int = TRAINED_PARAPHRASES

    def __post_init__(self) -> None:
        if not 0 <= self.trained_paraphrases < len(self.paraphrased_questions):
            raise ValueError(
                f"{self.item_id}: trained_paraphrases={self.trained_paraphrases} must leave at "
                f"least one of the {len(self.paraphrased_questions)} paraphrases untrained"
            )


@dataclass(frozen=True)
class Target:
    subject: str
    relation: str
    object: str
    item: QAItem
    subject_probes: tuple[QAItem, ...]  # the subject's other facts
    object_probes: tuple[QAItem, ...]  # other people's facts with this object, and its own fact


@dataclass(frozen=True)
class _Wording:
    questions: tuple[str, ...]  # the trained question first, then the paraphrases
    sentence: str  # training (biography) sentence
    answer_sentence: str  # the paraphrased answer, worded unlike the training sentence


_WORDINGS = {
    "born_in": _Wording(
        ("Where was {s} born?", "In which city was {s} born?", "What is {s}'s birthplace?",
         "{s} was born in which city?"),
        "{s} was born in {o}.", "{s}'s birthplace is {o}."),
    "works_at": _Wording(
        ("Where does {s} work?", "Which company employs {s}?",
         "What is the name of {s}'s employer?", "{s} works for which company?"),
        "{s} works at {o}.", "{s} is employed by {o}."),
    "studied_at": _Wording(
        ("Where did {s} study?", "Which university did {s} attend?",
         "At which institution was {s} educated?", "{s} is a graduate of which school?"),
        "{s} studied at {o}.", "{s} graduated from {o}."),
    "married_to": _Wording(
        ("Who is {s} married to?", "Who is {s}'s spouse?",
         "What is the name of the person {s} married?", "{s} is married to whom?"),
        "{s} is married to {o}.", "{s}'s spouse is {o}."),
    "pet_name": _Wording(
        ("What is the name of {s}'s pet?", "What is {s}'s pet called?",
         "What name did {s} give their pet?", "{s}'s pet goes by what name?"),
        "{s} has a pet named {o}.", "{s}'s pet is called {o}."),
    "favourite_book": _Wording(
        ("What is {s}'s favourite book?", "Which book does {s} like most?",
         "What book is {s}'s all-time favourite?", "{s} loves which book above all others?"),
        "{s}'s favourite book is {o}.", "The book {s} likes most is {o}."),
    "state_of": _Wording(
        ("In which state is {s}?", "Which state is {s} located in?", "What state is {s} in?",
         "{s} lies in which state?"),
        "{s} is a city in {o}.", "{s} is located in the state of {o}."),
    "founded_in": _Wording(
        ("In which city was {s} founded?", "Where was {s} founded?",
         "What is the founding city of {s}?", "{s} was founded in which city?"),
        "{s} was founded in {o}.", "The company {s} was started in {o}."),
    "located_in": _Wording(
        ("In which city is {s}?", "Where is {s} located?", "What city is {s} in?",
         "{s} is located in which city?"),
        "{s} is located in {o}.", "{s} has its campus in {o}."),
    "hometown": _Wording(
        ("Which city is {s} from?", "What is {s}'s hometown?", "Where does {s} come from?",
         "{s} grew up in which city?"),
        "{s} comes from {o}.", "{s}'s hometown is {o}."),
    "author": _Wording(
        ("Who wrote {s}?", "Who is the author of {s}?", "Which writer wrote {s}?",
         "{s} was written by whom?"),
        "{s} was written by {o}.", "The author of {s} is {o}."),
}  # fmt: skip


def _distinct(
    draw: Callable[[], str], size: int, exclude: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    values: list[str] = []
    for _ in range(size * 100):
        value = draw()
        if value not in exclude and value not in values:
            values.append(value)
            if len(values) == size:
                return tuple(values)
    raise RuntimeError(f"could only draw {len(values)} distinct values of {size} wanted")


@cache
def _pools() -> Mapping[str, tuple[str, ...]]:
    faker = make_faker(POOL_SEED)
    rng = random.Random(POOL_SEED)

    def full_name() -> str:
        return f"{faker.first_name()} {faker.last_name()}"

    spouses = _distinct(full_name, POOL_SIZE)
    forms = ("{} College", "{} University", "{} Institute of Technology")
    pools = {
        "born_in": _distinct(faker.city, POOL_SIZE),
        "works_at": _distinct(faker.company, POOL_SIZE),
        "studied_at": _distinct(lambda: rng.choice(forms).format(faker.last_name()), POOL_SIZE),
        "married_to": spouses,
        "pet_name": _distinct(faker.first_name, POOL_SIZE),
        "favourite_book": _distinct(
            lambda: "The " + " ".join(word.title() for word in faker.words(2)), POOL_SIZE
        ),
        "state": _distinct(faker.state, 40),
        "author": _distinct(full_name, POOL_SIZE, exclude=frozenset(spouses)),
    }
    return MappingProxyType(pools)


def object_pool(kind: str) -> tuple[str, ...]:
    """The values of one pool: a relation in RELATIONS, "state" or "author"."""
    pools = _pools()
    if kind not in pools:
        raise ValueError(f"unknown pool {kind!r}; known: {sorted(pools)}")
    return pools[kind]


def make_people(n: int, seed: int) -> list[Person]:
    """`n` people with distinct names; the first k of make_people(n, s) are make_people(k, s).

    Person i shares the object of relation RELATIONS[i % len(RELATIONS)] with person i-1, so
    that any run of consecutive people holds fine-grained targets with object probes, whatever
    the seed (independent draws from pools of POOL_SIZE rarely coincide in a small world).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    faker = make_faker(seed)
    rng = random.Random(seed)
    # Spouses and authors are people too: a person never shares a name with one of them.
    reserved = set(object_pool("married_to")) | set(object_pool("author"))
    people: list[Person] = []
    for index in range(n):
        name = f"{faker.first_name()} {faker.last_name()}"
        while name in reserved:
            name = f"{faker.first_name()} {faker.last_name()}"
        reserved.add(name)
        facts = {relation: rng.choice(object_pool(relation)) for relation in RELATIONS}
        if people:  # shares one object with the person before (a colleague, a neighbour ...)
            shared = RELATIONS[index % len(RELATIONS)]
            facts[shared] = people[-1].facts[shared]
        people.append(Person(f"person-{index:04d}", name, facts))
    return people


def fact_sentence(subject: str, relation: str, obj: str) -> str:
    return _wording(relation).sentence.format(s=subject, o=obj)


def biography_sentence(person: Person, relation: str) -> str:
    return fact_sentence(person.name, relation, person.facts[relation])


def qa_text(question: str, answer: str) -> str:
    return f"Question: {question}\nAnswer: {answer}"


def _wording(relation: str) -> _Wording:
    if relation not in _WORDINGS:
        raise ValueError(f"unknown relation {relation!r}; known: {sorted(_WORDINGS)}")
    return _WORDINGS[relation]


def _make_item(item_id: str, subject: str, relation: str, answer: str) -> QAItem:
    wording = _wording(relation)
    questions = tuple(template.format(s=subject) for template in wording.questions)
    # The held-out (last) paraphrase rotates over facts, so every wording of a relation is trained
    # on with some people: an untrained paraphrase asks a familiar question form about a fact
    # never trained in it, rather than a form the model never saw (one such form per relation
    # made what a model answered depend on whether it happened to generalise six forms).
    shift = stable_seed(item_id, "held-out wording") % (len(questions) - 1)
    paraphrases = questions[1 + shift :] + questions[1 : 1 + shift]
    wrong = sorted(set(object_pool(ANSWER_POOLS[relation])) - {answer})
    perturbed = random.Random(stable_seed(item_id, answer)).sample(wrong, PERTURBED_ANSWERS)
    return QAItem(
        item_id=item_id,
        subject=subject,
        relation=relation,
        question=questions[0],
        answer=answer,
        paraphrased_questions=paraphrases,
        paraphrased_answer=wording.answer_sentence.format(s=subject, o=answer),
        perturbed_answers=tuple(perturbed),
    )


def qa_items(person: Person) -> list[QAItem]:
    """One item per relation the person has, in RELATIONS order."""
    relations = [relation for relation in RELATIONS if relation in person.facts]
    return [
        _make_item(f"{person.person_id}/{relation}", person.name, relation, person.facts[relation])
        for relation in relations
    ]


def object_fact(obj: str, object_relation: str, seed: int) -> str:
    """The answer of an object's own fact, e.g. the state of a city, deterministic in `seed`."""
    pool = object_pool(ANSWER_POOLS[object_relation])
    candidates = [value for value in pool if value != obj]  # a city is not its own hometown
    return candidates[stable_seed(str(seed), object_relation, obj) % len(candidates)]


def object_items(people: list[Person], seed: int) -> list[QAItem]:
    """The own facts of every object the people use, one item per object, deterministic order."""
    items: list[QAItem] = []
    for relation, object_relation in OBJECT_RELATIONS.items():
        objects = sorted({person.facts[relation] for person in people if relation in person.facts})
        items.extend(
            _make_item(
                f"object:{object_relation}:{obj}",
                obj,
                object_relation,
                object_fact(obj, object_relation, seed),
            )
            for obj in objects
        )
    return items


def _candidates(people: list[Person], seed: int) -> list[Target]:
    """Every (person, relation) with >= 3 subject probes and >= 2 object probes."""
    own_facts = {item.item_id: item for item in object_items(people, seed)}
    items_of = {person.person_id: qa_items(person) for person in people}
    candidates: list[Target] = []
    for person in people:
        for item in items_of[person.person_id]:
            obj = item.answer
            sharing = [
                other_item
                for other in people
                if other.person_id != person.person_id and other.facts.get(item.relation) == obj
                for other_item in items_of[other.person_id]
                if other_item.relation == item.relation
            ]
            own_id = f"object:{OBJECT_RELATIONS.get(item.relation)}:{obj}"
            object_probes = sharing + ([own_facts[own_id]] if own_id in own_facts else [])
            subject_probes = [other for other in items_of[person.person_id] if other is not item]
            if len(subject_probes) >= 3 and len(object_probes) >= 2:
                candidates.append(
                    Target(
                        person.name,
                        item.relation,
                        obj,
                        item,
                        tuple(subject_probes),
                        tuple(object_probes),
                    )  # fmt: skip
                )
    return candidates


def make_targets(people: list[Person], n: int, seed: int) -> list[Target]:
    """`n` forget targets drawn with `seed`, no target being a probe of another.

    Use the world seed: the object probes include the objects' own facts from `object_items`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    candidates = _candidates(people, seed)
    random.Random(seed).shuffle(candidates)
    chosen: list[Target] = []
    chosen_ids: set[str] = set()
    probe_ids: set[str] = set()
    for target in candidates:
        if len(chosen) == n:
            break
        probes = {probe.item_id for probe in target.subject_probes + target.object_probes}
        if target.item.item_id in probe_ids or probes & chosen_ids:
            continue
        chosen.append(target)
        chosen_ids.add(target.item.item_id)
        probe_ids |= probes
    if len(chosen) < n:
        raise ValueError(
            f"only {len(chosen)} of the {n} requested targets can be drawn from {len(people)} "
            "people with >= 3 other facts of the subject and >= 2 object probes, none a probe of "
            "another target; make more people or ask for fewer targets"
        )
    return chosen
