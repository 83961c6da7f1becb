"""UnSTAR's active questions: `per_variant` per target and variant type at a time.

A question enters the count only once the model answered it: one it does not answer the first
time it is asked is unknown on that phrasing (nothing to unlearn there) and leaves the pool. A
known question the model no longer answers is unlearned and retires. Either way a fresh question
of the same target and type (from the reserve the question writer wrote beyond the first
`per_variant`) takes its place while there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.antisamples.unstar.facts import Question


class QuestionPool:
    def __init__(self, questions: Sequence[Question], per_variant: int) -> None:
        self._active: list[Question] = []
        self._reserve: dict[tuple[str, str], list[Question]] = {}
        counts: dict[tuple[str, str], int] = {}
        for question in questions:
            key = (question.target_id, question.variant)
            if counts.get(key, 0) < per_variant:
                self._active.append(question)
                counts[key] = counts.get(key, 0) + 1
            else:
                self._reserve.setdefault(key, []).append(question)
        self._known: set[int] = set()  # ids of questions answered when first asked
        self.unknown: list[Question] = []  # not answered when first asked
        self.retired: list[Question] = []  # answered once, no longer

    def active(self) -> list[Question]:
        return list(self._active)

    def record(self, asked: Sequence[Question], given: Sequence[bool]) -> float:
        """Record one probe of `asked`; the share of the known questions (answered when first
        asked) that are unlearned now (1.0 when none is known)."""
        if len(asked) != len(given):
            raise ValueError(f"{len(asked)} questions but {len(given)} probe results")
        leaving = set()
        for question, answers in zip(asked, given, strict=True):
            if answers:
                self._known.add(id(question))
                continue
            leaving.add(id(question))
            bucket = self.retired if id(question) in self._known else self.unknown
            bucket.append(question)
        fresh = [self._refill(q) for q in asked if id(q) in leaving]
        self._active = [q for q in self._active if id(q) not in leaving]
        self._active += [q for q in fresh if q is not None]
        still = sum(1 for q in self._active if id(q) in self._known)
        known = len(self.retired) + still
        return len(self.retired) / known if known else 1.0

    @property
    def known(self) -> int:
        """Questions answered when first asked so far."""
        return len(self._known)

    def _refill(self, question: Question) -> Question | None:
        reserve = self._reserve.get((question.target_id, question.variant), [])
        return reserve.pop(0) if reserve else None
