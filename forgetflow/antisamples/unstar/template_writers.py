"""The `template` generator of each role: rule-based, no model, named "template:<set>" in every
artifact. Questions fill a relation's generator templates (noisy ones are seeded typos of its
rephrasings), falsified answers are drawn from the target's same-type alternatives, and
rationales fill a relation's biography-style sentences with the falsified answer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from forgetflow.antisamples.leak_filter import leak_reason
from forgetflow.antisamples.unstar.facts import REVERSED, VARIANTS, FactTarget, Question
from forgetflow.antisamples.unstar.templates import RelationTemplates, TemplateSet, noisy
from forgetflow.data.answers import normalise_answer
from forgetflow.hashing import stable_seed


class TemplateError(ValueError):
    """A target's relation has no templates in the set, or a target has nothing to draw from."""


def relation_templates(templates: TemplateSet, target: FactTarget) -> RelationTemplates:
    found = templates.relations.get(target.relation)
    if found is None:
        known = ", ".join(sorted(templates.relations)) or "none"
        raise TemplateError(
            f"target {target.target_id!r}: relation {target.relation!r} has no templates in "
            f"{templates.name!r} (it has: {known}); give the target's questions yourself or "
            "use a model to write them"
        )
    return found


def pick(options: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """`n` of `options` in a seeded order (all of them, shuffled, when there are fewer)."""
    return rng.sample(list(options), max(0, min(n, len(options))))


class TemplateQuestionWriter:
    """Questions from a relation's generator templates, never one of `exclude` (normalised:
    e.g. every evaluation question); the rephrasings start with the target's trained phrasings
    (which the model answers), the rest drawn from the templates."""

    def __init__(self, templates: TemplateSet, exclude: Sequence[str] = ()) -> None:
        self.templates, self.name = templates, f"template:{templates.name}"
        self.exclude = {normalise_answer(q) for q in exclude}

    def questions(
        self, targets: Sequence[FactTarget], per_variant: int, seed: int
    ) -> list[Question]:
        out: list[Question] = []
        for target in targets:
            forms = relation_templates(self.templates, target)
            rng = random.Random(stable_seed(seed, target.target_id, "questions"))
            texts = {
                "rephrase": [t.format(s=target.subject) for t in forms.rephrase],
                "more_specific": [t.format(s=target.subject) for t in forms.more_specific],
                REVERSED: [t.format(o=target.answer) for t in forms.reversed],
            }
            texts["noisy"] = [noisy(q, rng, (target.subject,)) for q in texts["rephrase"]]
            for variant in VARIANTS:
                allowed = [q for q in texts[variant] if normalise_answer(q) not in self.exclude]
                known = list(target.trained_questions) if variant == "rephrase" else []
                chosen = known[:per_variant] + pick(allowed, per_variant - len(known), rng)
                out += [
                    Question(target.target_id, q, variant, target.expects(variant)) for q in chosen
                ]
        return out


def falsified_candidates(target: FactTarget, options: Sequence[str], true: str) -> list[str]:
    """`options` that may stand in for `true`: no leak of it (nor it of them), no distractor."""
    banned = {normalise_answer(d) for d in target.distractors}
    return [
        o for o in dict.fromkeys(options)
        if normalise_answer(o) not in banned and o.strip()
        and leak_reason((true,), o) is None and leak_reason((o,), true) is None
    ]  # fmt: skip


class TemplateAnswerWriter:
    """Falsified answers drawn (seeded) from each target's same-type `alternatives`."""

    name = "template:alternatives"

    def answers(self, targets: Sequence[FactTarget], n: int, seed: int) -> Mapping[str, list[str]]:
        out: dict[str, list[str]] = {}
        for target in targets:
            spellings = target.spellings
            options = [o for o in target.alternatives
                       if all(leak_reason((s,), o) is None for s in spellings)]  # fmt: skip
            options = falsified_candidates(target, options, target.answer)
            if not options:
                raise TemplateError(
                    f"target {target.target_id!r}: no alternative answer of its type to "
                    "falsify it with; give the target `alternatives`"
                )
            rng = random.Random(stable_seed(seed, target.target_id, "answers"))
            out[target.target_id] = pick(options, n, rng)
        return out


class TemplateRationaleWriter:
    """A relation's rationale sentences with the falsified answer as the object (a reversed
    question's falsified answer is a subject: the sentence names it with the true object)."""

    def __init__(self, templates: TemplateSet) -> None:
        self.templates, self.name = templates, f"template:{templates.name}"

    def rationales(self, items: Sequence[tuple[FactTarget, Question, str]], seed: int) -> list[str]:
        out = []
        for target, question, falsified in items:
            sentences = relation_templates(self.templates, target).rationales
            if not sentences:
                raise TemplateError(
                    f"relation {target.relation!r} has no rationale sentences in "
                    f"{self.templates.name!r}; add some or let a model write rationales"
                )
            rng = random.Random(stable_seed(seed, target.target_id, question.text, falsified))
            sentence = rng.choice(sentences)
            reversed_ = question.variant == REVERSED
            s, o = (falsified, target.answer) if reversed_ else (target.subject, falsified)
            out.append(sentence.format(s=s, o=o))
        return out
