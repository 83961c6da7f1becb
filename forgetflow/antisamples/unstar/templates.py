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
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from forgetflow.antisamples.unstar.facts import REVERSED, FactTarget, Question
from forgetflow.data.answers import normalise_answer
from forgetflow.hashing import stable_seed


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


QUESTION_KINDS = ("rephrase", "more_specific", "reversed")
# the placeholders each kind of template holds, exactly
PLACEHOLDERS = {"rephrase": {"s"}, "more_specific": {"s"}, "reversed": {"o"},
                "rationales": {"s", "o"}}  # fmt: skip
GENERATOR_QUESTIONS = 5  # per relation and kind: UnSTAR's 5 per variant type
EVALUATION_QUESTIONS = 2
MAX_RATIONALE_WORDS = 25


def evaluation_questions(
    target: FactTarget, templates: TemplateSet | None, seed: int, rephrase: tuple[str, ...] = ()
) -> list[Question]:
    """A target's evaluation questions from an evaluation template set: `rephrase` (e.g. the
    scenario's untrained paraphrases, a user's paraphrases) and the set's rephrasings, noisy
    copies of those (seeded, the subject protected), its more specific and its reversed
    questions; without a set (a user's relations), `rephrase` and their noisy copies alone."""
    forms = templates.relations[target.relation] if templates else RelationTemplates((), (), ())
    asked = [*rephrase, *(t.format(s=target.subject) for t in forms.rephrase)]
    rng = random.Random(stable_seed(seed, target.target_id, "evaluation"))
    texts = {"rephrase": asked,
             "more_specific": [t.format(s=target.subject) for t in forms.more_specific],
             "noisy": [noisy(q, rng, (target.subject,)) for q in asked],
             REVERSED: [t.format(o=target.answer) for t in forms.reversed]}  # fmt: skip
    return [Question(target.target_id, text, variant, target.expects(variant))
            for variant, questions in texts.items() for text in questions]  # fmt: skip


def entries(templates: TemplateSet, kinds: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(relation, kind, template) for every template of `kinds` in the set."""
    return [(relation, kind, template)
            for relation, forms in templates.relations.items()
            for kind in kinds
            for template in getattr(forms, kind)]  # fmt: skip


def filled(templates: TemplateSet, fill: str) -> set[str]:
    """Every template of the set, normalised, with `fill` as subject and object (one name for
    both: a reversed question then collides with a question about the object, the stricter
    check)."""
    found = entries(templates, (*QUESTION_KINDS, "rationales"))
    return {normalise_answer(t.format(s=fill, o=fill)) for _, _, t in found}


def placeholder_problems(templates: TemplateSet) -> list[str]:
    problems = []
    for relation, kind, template in entries(templates, tuple(PLACEHOLDERS)):
        parsed = list(string.Formatter().parse(template))
        names = {name for _, name, _, _ in parsed if name is not None}
        plain = all(spec == "" and conv is None for _, name, spec, conv in parsed if name)
        literal = "".join(text for text, _, _, _ in parsed)
        if names != PLACEHOLDERS[kind] or not plain or "{" in literal or "}" in literal:
            problems.append(f"{templates.name} {relation} {kind}: {template!r} must hold "
                            f"exactly {sorted(PLACEHOLDERS[kind])}")  # fmt: skip
    return problems


def shape_problems(templates: TemplateSet, questions: int, rationales: bool) -> list[str]:
    """Counts per kind (at least `questions`; exactly, without rationales: an evaluation set),
    one "?" ending each distinct question, short one- or two-sentence rationales."""
    problems = []
    for relation, forms in templates.relations.items():
        asked = [q for kind in QUESTION_KINDS for q in getattr(forms, kind)]
        counts = [len(getattr(forms, kind)) for kind in QUESTION_KINDS]
        short = min(counts) < questions or (not rationales and max(counts) > questions)
        if short or bool(forms.rationales) != rationales:
            problems.append(f"{templates.name} {relation}: {counts} questions per kind, "
                            f"{len(forms.rationales)} rationales")  # fmt: skip
        if any(not q.endswith("?") or q.count("?") != 1 for q in asked) or len(
            {normalise_answer(q) for q in asked}) != len(asked):  # fmt: skip
            problems.append(f"{templates.name} {relation}: questions must be distinct, one ?")
        for text in forms.rationales:
            if len(text.split()) > MAX_RATIONALE_WORDS or "?" in text or text.count(". ") > 1:
                problems.append(f"{templates.name} {relation}: rationale {text!r} too long")
    return problems


def template_problems(
    generator: TemplateSet, evaluation: TemplateSet, known: set[str], fill: str
) -> list[str]:
    """What is wrong with a scenario's two template sets (empty: nothing): placeholders, shapes,
    the same relations in both, no template in both (normalised, filled with `fill`) and none
    among `known` (the scenario's own wordings, normalised and filled alike)."""
    problems = placeholder_problems(generator) + placeholder_problems(evaluation)
    problems += shape_problems(generator, GENERATOR_QUESTIONS, rationales=True)
    problems += shape_problems(evaluation, EVALUATION_QUESTIONS, rationales=False)
    if set(generator.relations) != set(evaluation.relations):
        problems.append(f"{generator.name} and {evaluation.name} cover other relations")
    shared = filled(generator, fill) & filled(evaluation, fill)
    problems += [f"in both {generator.name} and {evaluation.name}: {t!r}" for t in sorted(shared)]
    for templates in (generator, evaluation):
        seen = filled(templates, fill) & known
        problems += [f"{templates.name} repeats a known wording: {t!r}" for t in sorted(seen)]
    return problems
