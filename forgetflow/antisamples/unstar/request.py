"""A facts erasure request as the unlearning stage gets it: the targets, the template set the
`template` generators write with (None: the request's relations have none), and the evaluation
questions, which no generator ever sees (a generator is told to avoid them). It travels between
stages as JSON (`request_to_json`, `request_from_json`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from forgetflow.antisamples.unstar.facts import FactTarget, Question
from forgetflow.antisamples.unstar.templates import RelationTemplates, TemplateSet

FORMAT = 1


class RequestFormatError(ValueError):
    """A stored facts request is not one this version reads."""


@dataclass(frozen=True)
class FactRequest:
    targets: tuple[FactTarget, ...]  # each target_id is its forget sample's sample_id
    generator: TemplateSet | None = None
    evaluation: tuple[Question, ...] = ()
    # the evaluated keep-probes (never trained), asked with an untrained paraphrase; variant
    # "keep_subject", "keep_object" or "keep_answer" (other subjects' answers of the relation),
    # target_id the target each keeps
    keep: tuple[Question, ...] = ()


def request_to_json(request: FactRequest) -> dict[str, Any]:
    generator = request.generator
    return {
        "format": FORMAT,
        "targets": [dataclasses.asdict(t) for t in request.targets],
        "evaluation": [dataclasses.asdict(q) for q in request.evaluation],
        "keep": [dataclasses.asdict(q) for q in request.keep],
        "generator": None if generator is None else {
            "name": generator.name,
            "relations": {r: dataclasses.asdict(t) for r, t in generator.relations.items()},
        },
    }  # fmt: skip


def request_from_json(data: dict[str, Any]) -> FactRequest:
    if data.get("format") != FORMAT:
        raise RequestFormatError(
            f"facts request format {data.get('format')!r}, this version reads {FORMAT}; "
            "ingest the request again"
        )
    fields = {f.name for f in dataclasses.fields(FactTarget) if f.type != "str"}
    targets = tuple(
        FactTarget(**{k: tuple(v) if k in fields and isinstance(v, list) else v
                      for k, v in t.items()}) for t in data["targets"]
    )  # fmt: skip
    generator = data["generator"]
    templates = None if generator is None else TemplateSet(generator["name"], {
        r: RelationTemplates(**{k: tuple(v) for k, v in t.items()})
        for r, t in generator["relations"].items()})  # fmt: skip
    return FactRequest(targets, templates, tuple(Question(**q) for q in data["evaluation"]),
                       tuple(Question(**q) for q in data["keep"]))  # fmt: skip
