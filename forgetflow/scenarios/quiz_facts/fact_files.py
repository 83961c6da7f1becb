"""A pretrained model's quiz facts as a facts request on disk (`data: {kind: quiz_facts}`), built
once per (model, shipped facts, targets, seed) in `<home>/requests/quiz-<key>/`.

The model is probed greedily on every quiz fact (facts.probe, each fact and wording asked once);
`targets` capitals it knows best become the targets and their neighbours the keep-probes
(facts.build_probes, fact_request.quiz_fact_request). The files, as the world's
(world/fact_files.py):
- forget: the targets as QA rows (`quiz-capital:<country>`, asked with the generator's first
  rephrasing), their non-reversed evaluation questions as untrained paraphrases (the audit asks
  them);
- retain: the trained keep-probes (`keep-<fact id>`: the subject's other facts and other
  countries' capitals), asked with their generator question;
- holdout: capitals the model does not answer (the non-members: the calibration of every
  threshold), as many as the forget and retain rows, at least MIN_HOLDOUT, drawn with the seed;
- request.json: the request (the targets, the quiz's generator templates, the evaluation
  questions and the evaluated keep-probes) and what it was built from.
There is no retain model: a pretrained model was never trained without these facts.

The model's key is its pulled manifest where it has one (the pulled source's hash and the
converter's versions), else the content of every file in its directory."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.antisamples.unstar.keep import DrawnFacts
from forgetflow.antisamples.unstar.request import request_to_json
from forgetflow.hashing import content_key, dir_sha256, file_sha256, stable_seed
from forgetflow.models.io import load_model
from forgetflow.models.pulled import MANIFEST
from forgetflow.scenarios.build import build_once
from forgetflow.scenarios.quiz_facts.fact_request import quiz_fact_request, row
from forgetflow.scenarios.quiz_facts.facts import (
    FACTS_TSV,
    ProbeFn,
    ProbeSelectionError,
    RealFact,
    build_probes,
    load_facts,
    probe,
)
from forgetflow.scenarios.request_files import (
    SPLIT_FILES,
    asked_paraphrases,
    qa_row,
    write_request_files,
)

QUIZ_FORMAT = 1
RELATION = "capital"  # the targets' relation, and the holdout's
MIN_HOLDOUT = 24


@dataclass(frozen=True)
class QuizDraw:
    """What a quiz facts request is drawn with."""

    targets: int
    seed: int


@dataclass(frozen=True)
class QuizRequest:
    folder: Path  # holds request.json and the splits' JSONL files
    splits: dict[str, Path]  # forget, retain, holdout


class CachedProbe:
    """`probe` on one model, each (fact, wording) asked once."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.answers: dict[tuple[str, int], bool] = {}

    def __call__(self, facts: Sequence[RealFact], wording: int) -> list[bool]:
        missing = [f for f in facts if (f.fact_id, wording) not in self.answers]
        flags = probe(self.model, self.tokenizer, missing, wording=wording)
        for fact, ok in zip(missing, flags, strict=True):
            self.answers[fact.fact_id, wording] = ok
        return [self.answers[f.fact_id, wording] for f in facts]


def unknown_facts(
    facts: Sequence[RealFact], known: Sequence[RealFact], count: int, seed: int
) -> list[RealFact]:
    """`count` capitals the model does not answer (all of them where fewer), drawn with `seed`;
    under MIN_HOLDOUT is a ProbeSelectionError (too few to calibrate a threshold on)."""
    answered = set(known)
    unknown = [f for f in facts if f.relation == RELATION and f not in answered]
    if len(unknown) < MIN_HOLDOUT:
        raise ProbeSelectionError(
            f"the model answers all but {len(unknown)} {RELATION} facts; the holdout needs "
            f"{MIN_HOLDOUT} it does not answer"
        )
    return random.Random(stable_seed(seed, "holdout")).sample(unknown, min(count, len(unknown)))


def draw_quiz_facts(ask: ProbeFn, draw: QuizDraw) -> tuple[DrawnFacts, list[RealFact]]:
    """The request (`draw.targets` capitals, every other known fact in the general set: no
    retain share) and its holdout facts, from what `ask` says the model answers."""
    facts = load_facts()
    sets = build_probes(facts, ask, targets=draw.targets, retain_share=0.0, seed=draw.seed,
                        relation=RELATION)  # fmt: skip
    drawn = quiz_fact_request(sets, facts, draw.seed)
    rows = len(drawn.targets) + len(drawn.trained)
    return drawn, unknown_facts(facts, sets.known, max(rows, MIN_HOLDOUT), draw.seed)


def quiz_rows(drawn: DrawnFacts, holdout: Sequence[RealFact]) -> dict[str, list[dict]]:
    """The forget, retain and holdout splits' QA rows (see the module)."""
    asked = asked_paraphrases(drawn.request)
    return {
        "forget": [qa_row(t, r, asked.get(t, [])) for t, r in drawn.targets.items()],
        "retain": [qa_row(f"keep-{p.row['item_id']}", p.row) for p in drawn.trained],
        "holdout": [qa_row(f"holdout-{f.fact_id}", row(f)) for f in holdout],
    }


def model_digest(model_dir: Path) -> str:
    """A pulled model's manifest hash, else the hash of its directory's content."""
    manifest = model_dir / MANIFEST
    return file_sha256(manifest) if manifest.is_file() else dir_sha256(model_dir)


def write_quiz_request(
    model_dir: Path, draw: QuizDraw, source: dict, staging: Path, ask: ProbeFn | None
) -> None:
    if ask is None:
        ask = CachedProbe(*load_model(model_dir))
    try:
        drawn, holdout = draw_quiz_facts(ask, draw)
    except ProbeSelectionError as err:
        raise ProbeSelectionError(
            f"quiz facts of {model_dir}: {err}; pick a model that knows more of the quiz's "
            "facts (forgetflow/scenarios/quiz_facts/quiz_facts.tsv) or fewer targets"
        ) from err
    request = request_to_json(drawn.request) | {"source": source}
    write_request_files(staging, SPLIT_FILES, quiz_rows(drawn, holdout), request)


def build_quiz_request(
    model_dir: Path, draw: QuizDraw, root: Path, ask: ProbeFn | None = None
) -> QuizRequest:
    """The quiz facts request of the model at `model_dir` under `root` (built once, staged then
    renamed: an error leaves nothing behind). `ask` answers for the model (default: probing
    it); a model that knows too few facts is a ProbeSelectionError."""
    source = {"model_sha256": model_digest(model_dir), "facts_sha256": file_sha256(FACTS_TSV),
              "targets": draw.targets, "seed": draw.seed}  # fmt: skip
    folder = root / f"quiz-{content_key(source | {'format': QUIZ_FORMAT})}"
    if not (folder / "request.json").is_file():
        build_once(
            folder, lambda staging: write_quiz_request(model_dir, draw, source, staging, ask)
        )
    return QuizRequest(folder, {split: folder / name for split, name in SPLIT_FILES.items()})
