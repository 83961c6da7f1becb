"""Question and rationale templates per relation: the `template` generator's rules and the
evaluation questions' source, kept apart (a scenario ships both sets, disjoint).

A RelationTemplates holds question templates per variant type, with `{s}` for the subject
(`reversed` ones with `{o}` for the object: they ask for the subject), and rationale sentences
with `{s}` and `{o}` (the falsified answer). Noisy questions are not written: they are rephrasings
with seeded typos, casing and spacing (`noisy`), so a set's noisy questions come from its own
rephrasings and stay disjoint from another set's.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RelationTemplates:
    rephrase: tuple[str, ...]  # {s}: asks for the object
    more_specific: tuple[str, ...]  # {s}: a narrower, more detailed question for the object
    reversed: tuple[str, ...]  # {o}: asks for the subject
    rationales: tuple[str, ...] = ()  # {s}, {o}: sentences that support {o} as the answer


@dataclass(frozen=True)
class TemplateSet:
    name: str  # what it is in every artifact, e.g. "world-generator"
    relations: Mapping[str, RelationTemplates] = field(default_factory=dict)


def noisy(text: str, rng: random.Random, protect: tuple[str, ...] = ()) -> str:
    """`text` with one or two seeded typos (two letters swapped or one dropped) in words of at
    least four letters that are not part of a protected name, and lower case or doubled spaces;
    a question with no such word only changes case and spacing."""
    protected = {word for name in protect for word in name.split()}
    words = text.split(" ")
    editable = [
        i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha() and w not in protected
    ]
    for index in rng.sample(editable, min(len(editable), rng.choice((1, 2)))):
        word = words[index]
        at = rng.randrange(1, len(word) - 1)
        if rng.random() < 0.5:
            words[index] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        else:
            words[index] = word[:at] + word[at + 1 :]
    out = " ".join(words)
    if rng.random() < 0.5:
        out = out[0].lower() + out[1:]
    else:
        out = out.replace(" ", "  ", 1)
    return out
