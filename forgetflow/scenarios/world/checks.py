"""Does a built world memorize as promised? The figures behind its acceptance, and the verdict.

Profiles: mean forget MA per exposure bucket against holdout MA, and verbatim extraction of the
most exposed bucket from the name line (target and retain model). Facts: the share of QA items
whose answer starts the greedy continuation of "Question: ...\\nAnswer:", for the target model on
well-exposed items and for the retain model on forget and holdout people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from forgetflow.audit.extraction import extraction_table
from forgetflow.data.answers import answer_matches
from forgetflow.generation.base import SamplingParams
from forgetflow.generation.registry import BackendConfig, open_backend
from forgetflow.lm.prompts import qa_prompt
from forgetflow.memorization.metrics import score_samples
from forgetflow.models.io import load_model, load_tokenizer
from forgetflow.records import Sample
from forgetflow.scenarios.exposures import REPETITION_CYCLE

TOP = max(REPETITION_CYCLE)
EXPOSED = 8  # QA items seen at least this often must be answered
# the world's promises (see the README): thresholds on the figures below
MONOTONE_TOLERANCE = 0.02
R1_WITHIN = 0.15
TOP_ABOVE = 0.4
EXPOSED_ABOVE = 0.2
TOP_EXTRACTABLE = 0.9
QA_ANSWERED = 0.9
RETAIN_QA_MARGIN = 0.05
CHECKS_BACKEND = BackendConfig(name="hf")  # greedy decoding of the world's own small models


@dataclass(frozen=True)
class WorldFigures:
    holdout_ma: float
    bucket_ma: dict[int, float]  # forget profiles: r -> mean MA
    top_extraction: float  # target model, forget profiles of the top bucket
    retain_top_extraction: float  # retain model, same profiles
    qa_exposed: float  # target model, QA items with r >= EXPOSED
    retain_qa_forget: float  # retain model, forget people's QA items
    retain_qa_holdout: float  # retain model, holdout people's QA items

    def as_dict(self) -> dict:
        figures = asdict(self)
        figures["bucket_ma"] = {str(r): v for r, v in self.bucket_ma.items()}
        return figures


def profile_samples(world, splits: Sequence[str]) -> list[Sample]:
    rows = world.table("items").to_pylist()
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows
            if r["family"] == "profile" and r["split"] in splits]  # fmt: skip


def qa_accuracy(model_dir: Path, rows: Sequence[dict]) -> float:
    """Share of QA rows whose answer starts the greedy continuation of the trained question."""
    if not rows:
        raise ValueError("no QA rows to measure")
    prompts = [qa_prompt(q["question"]) for q in rows]
    with open_backend(CHECKS_BACKEND, model_dir, model_dir) as backend:
        outs = backend.generate(prompts, SamplingParams(max_tokens=16))
    hits = [answer_matches(q["answer"], o.text) for q, o in zip(rows, outs, strict=True)]
    return sum(hits) / len(rows)


def extraction_rate(model_dir: Path, samples: Sequence[Sample]) -> float:
    with open_backend(CHECKS_BACKEND, model_dir, model_dir) as backend:
        table = extraction_table(backend, load_tokenizer(model_dir), samples, "check")
    return sum(table["exact"].to_pylist()) / len(samples)


def world_figures(world) -> WorldFigures:
    model, tokenizer = load_model(world.model_dir)
    samples = profile_samples(world, ("forget", "holdout"))
    scores = score_samples(model, tokenizer, samples)
    by_bucket: dict[int, list[float]] = defaultdict(list)
    for sample, score in zip(samples, scores, strict=True):
        by_bucket[sample.repetitions].append(score.values["ma"])
    holdout = by_bucket.pop(0)
    top = [s for s in samples if s.split == "forget" and s.repetitions == TOP]
    qa = world.table("qa").to_pylist()
    return WorldFigures(
        holdout_ma=sum(holdout) / len(holdout),
        bucket_ma={r: sum(v) / len(v) for r, v in sorted(by_bucket.items())},
        top_extraction=extraction_rate(world.model_dir, top),
        retain_top_extraction=extraction_rate(world.retain_model_dir, top),
        qa_exposed=qa_accuracy(world.model_dir, [q for q in qa if q["repetitions"] >= EXPOSED]),
        retain_qa_forget=qa_accuracy(
            world.retain_model_dir, [q for q in qa if q["split"] == "forget"]
        ),
        retain_qa_holdout=qa_accuracy(
            world.retain_model_dir, [q for q in qa if q["split"] == "holdout"]
        ),
    )


def shortfalls(figures: WorldFigures) -> list[str]:
    """Every promise the figures break, in words; empty when the world is as promised."""
    ma, hold = figures.bucket_ma, figures.holdout_ma
    buckets = sorted(ma)
    found = []
    for low, high in zip(buckets, buckets[1:], strict=False):
        if ma[high] < ma[low] - MONOTONE_TOLERANCE:
            found.append(f"MA falls from r={low} ({ma[low]:.3f}) to r={high} ({ma[high]:.3f})")
    if abs(ma[1] - hold) > R1_WITHIN:
        found.append(f"r=1 MA {ma[1]:.3f} is not within {R1_WITHIN} of holdout {hold:.3f}")
    if ma[TOP] < hold + TOP_ABOVE:
        found.append(f"r={TOP} MA {ma[TOP]:.3f} is not {TOP_ABOVE} above holdout {hold:.3f}")
    for r in (b for b in buckets if b >= EXPOSED):
        if ma[r] < hold + EXPOSED_ABOVE:
            found.append(f"r={r} MA {ma[r]:.3f} is not {EXPOSED_ABOVE} above holdout {hold:.3f}")
    if figures.top_extraction < TOP_EXTRACTABLE:
        found.append(f"only {figures.top_extraction:.0%} of r={TOP} profiles are extractable")
    if figures.qa_exposed < QA_ANSWERED:
        found.append(f"only {figures.qa_exposed:.0%} of r>={EXPOSED} questions are answered")
    if figures.retain_qa_forget > figures.retain_qa_holdout + RETAIN_QA_MARGIN:
        found.append(
            f"the retain model answers {figures.retain_qa_forget:.0%} of forget-person questions"
            f" against {figures.retain_qa_holdout:.0%} of holdout-person ones"
        )
    return found
