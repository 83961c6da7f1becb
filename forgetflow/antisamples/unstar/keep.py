"""A facts request as a scenario draws it (DrawnFacts): the request, each target's own row, its
keep-probes split with the seed into a trained half (rows a method with a retain term may train
on) and an evaluated half (asked after unlearning, never trained), and the rest of the
scenario's known facts, which no method trains on. A row is a dict with at least `item_id`,
`question` and `answer`. The world (scenarios/world/fact_draw.py) and the quiz facts
(scenarios/quiz_facts/fact_request.py) draw one each."""

from __future__ import annotations

import random
from dataclasses import dataclass

from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.hashing import stable_seed


@dataclass(frozen=True)
class KeepProbe:
    target_id: str
    role: str  # what it keeps: "subject" (the subject's other facts) or "object" / "answer"
    row: dict  # the probe's row


@dataclass(frozen=True)
class DrawnFacts:
    request: FactRequest
    targets: dict[str, dict]  # target id -> its row
    trained: tuple[KeepProbe, ...]  # keep-probes a method may train on
    evaluated: tuple[KeepProbe, ...]  # keep-probes asked after unlearning, never trained
    rest: tuple[dict, ...]  # the other known facts: neither a target nor a probe


def split_probes(target_id: str, role: str, rows: list[dict], seed: int) -> tuple[list, list]:
    """Half the probes (rounded down) trained, the rest evaluated, in a seeded order."""
    order = sorted(rows, key=lambda r: r["item_id"])
    random.Random(stable_seed(seed, target_id, role)).shuffle(order)
    half = len(order) // 2
    probes = [KeepProbe(target_id, role, r) for r in order]
    return probes[:half], probes[half:]
