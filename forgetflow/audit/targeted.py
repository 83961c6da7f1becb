"""A facts request's questions asked of a model variant: every target's evaluation questions by
variant type (rephrase, more_specific, noisy, reversed: the targeted accuracy, lower is better)
and the evaluated keep-probes (keep_subject, keep_object, keep_answer: higher is better),
greedily, as UnSTAR's probe asks them (antisamples/unstar/probe.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from forgetflow.antisamples.unstar.facts import Question
from forgetflow.antisamples.unstar.probe import ask
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.generation.base import GenerationBackend
from forgetflow.intervals import share_figures
from forgetflow.lm.prompts import QA_STYLE, QuestionStyle
from forgetflow.records import Figure

# the subject's other facts; the object's (the world, a facts file); other subjects' answers of
# the relation (the quiz facts' answer neighbours: other countries' capitals)
KEEP = ("keep_subject", "keep_object", "keep_answer")
TARGETED_TEXT = ("question", "answer")  # a row's texts: what a store outside forgetflow's hides


def targeted_rows(
    backend: GenerationBackend, request: FactRequest, variant: str, style: QuestionStyle = QA_STYLE
) -> list[dict]:
    """One row per question (asked in `style`): the model variant, the target, the question's
    variant type, the question, the greedy answer and whether it gives what it expects."""
    asked: Sequence[Question] = [*request.evaluation, *request.keep]
    completions, matches = ask(backend, asked, style=style)
    return [{"model": variant, "target_id": q.target_id, "kind": q.variant, "question": q.text,
             "answer": c, "given": bool(m)}
            for q, c, m in zip(asked, completions, matches, strict=True)]  # fmt: skip


def targeted_figures(rows: Sequence[dict]) -> list[Figure]:
    """Per model variant and question kind, the share answered (`targeted_answered`, lower is
    better; `keep_answered` for the keep-probes, higher is better), with Wilson intervals;
    group `targeted:<kind>` or `<keep kind>`, and `targeted:all` over every evaluation
    question."""
    counts: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for row in rows:
        group = row["kind"] if row["kind"] in KEEP else f"targeted:{row['kind']}"
        counts[row["model"], group].append(row["given"])
        if row["kind"] not in KEEP:
            counts[row["model"], "targeted:all"].append(row["given"])
    out: list[Figure] = []
    for (model, group), given in sorted(counts.items()):
        keep = group in KEEP
        metric = "keep_answered" if keep else "targeted_answered"
        out += share_figures(Figure("audit", metric, model, group, 0.0, keep), sum(given),
                             len(given))  # fmt: skip
    return out
