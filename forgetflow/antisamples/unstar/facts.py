"""UnSTAR's records: a fact to cut (FactTarget), a question about it (Question) and an anti-sample
(a question, a falsified answer and a misleading rationale: AntiSample).

A target is a (subject, relation, answer) association with the question that asks for it. The
scenario (the world, the quiz facts) or the user's JSONL gives it; the stage never invents facts
about a user's subject. `alternatives` are same-type values a falsified answer may be drawn from
(the world's typed pools, the other answers of a quiz relation); `distractors` are the answers an
evaluation set offers as wrong (the perturbed answers of the same item), which a falsified answer
must never be: training on one would make an evaluation distractor the model's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

# the question variant types (ReLearn's taxonomy, as the issue names them): a rephrasing, a more
# specific question, a noisy one (typos, casing, spacing), and the reversed relation (asks for the
# subject given the object; answered when the completion names the subject)
VARIANTS = ("rephrase", "more_specific", "noisy", "reversed")
REVERSED = "reversed"


@dataclass(frozen=True)
class FactTarget:
    target_id: str  # e.g. the world's item id "person-0003/works_at"
    subject: str
    relation: str
    answer: str  # the object: what the model must stop giving
    question: str  # the canonical question (the forget row's)
    alternatives: tuple[str, ...] = ()  # same-type values a falsified answer may be
    distractors: tuple[str, ...] = ()  # evaluation distractors: never a falsified answer
    accepted: tuple[str, ...] = ()  # other spellings that count as the answer ("Kyiv", "Kiev")
    subjects: tuple[str, ...] = ()  # other subjects of its kind: falsified answers to reversed
    # the phrasings the model learned the fact in (the world's question and trained paraphrases):
    # a question writer's rephrasings start with them, since a model answers a phrasing it knows
    trained_questions: tuple[str, ...] = ()

    def expects(self, variant: str) -> str:
        """What answers a question of this variant type: the answer; a reversed one's subject."""
        return self.subject if variant == REVERSED else self.answer

    @property
    def spellings(self) -> tuple[str, ...]:
        """The answer and every other accepted spelling: a leak of any one is a leak."""
        return (self.answer, *(a for a in self.accepted if a != self.answer))


@dataclass(frozen=True)
class Question:
    """A question about a target: its variant type and the answer that counts as given (the
    target's answer; for a reversed question, its subject)."""

    target_id: str
    text: str
    variant: str
    expects: str


@dataclass(frozen=True)
class AntiSample:
    """Train on `question` -> `answer` + " " + `rationale` (`rationale` may be empty: the
    rationale-free ablation). `writers` names the generator of each role."""

    target_id: str
    question: str
    variant: str
    answer: str  # the falsified answer (or an "I don't know" answer)
    rationale: str
    writers: tuple[tuple[str, str], ...]  # (role, generator), e.g. ("rationale", "template")

    @property
    def completion(self) -> str:
        return f"{self.answer}. {self.rationale}".strip() if self.rationale else self.answer
