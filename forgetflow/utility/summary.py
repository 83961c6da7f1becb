"""Utility's judgement over all variants together (docs/metrics.md, "Utility"): which retain-side
sets qualify (the subject answers at least `qualify_share` of one, greedily), model utility,
forget quality against the retain model, the collapse flag; as Figures, the per-sample
`utility` table and `utility_summary.json`."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import pyarrow as pa
from scipy.stats import hmean

from forgetflow.intervals import share_figures
from forgetflow.records import Figure
from forgetflow.schemas import table_schema
from forgetflow.utility.config import UtilityConfig
from forgetflow.utility.fluency import CollapseRule, collapse_reasons
from forgetflow.utility.forget_quality import ks_forget_quality
from forgetflow.utility.measured import UtilityResult, UtilityRun, VariantScores
from forgetflow.utility.qa import QAScore
from forgetflow.utility.sets import QASet

GENERAL = "general_eval"  # the group of general-text figures


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def truth_score(ratio: float) -> float:
    """TOFU's utility statistic of a truth ratio: max(0, 1 - R)."""
    return max(0.0, 1.0 - ratio)


def set_means(scores: Sequence[QAScore]) -> list[float]:
    """The numbers a set gives model utility: mean probability, mean ROUGE-L and, where its
    items have truth ratios, mean max(0, 1 - R)."""
    ratios = [s.truth_ratio for s in scores if s.truth_ratio is not None]
    means = [mean([s.probability for s in scores]), mean([s.rouge_l for s in scores])]
    return means + ([mean([truth_score(r) for r in ratios])] if ratios else [])


def model_utility(per_set: Sequence[Sequence[QAScore]]) -> float | None:
    """The harmonic mean of every qualifying set's numbers (TOFU); 0 when any is 0; None
    without a set."""
    values = [v for scores in per_set if scores for v in set_means(scores)]
    if not values:
        return None
    return 0.0 if min(values) <= 0.0 else float(hmean(values))


def qualifying(subject: VariantScores, sets: Sequence[QASet], share: float) -> dict[str, bool]:
    """Whether each retain-side set enters model utility: the subject answers >= `share` of it,
    or the set is not gated."""
    out = {}
    for one in sets:
        answered = [s.answered for s in subject.qa[one.name]]
        enough = bool(answered) and sum(answered) >= share * len(answered)
        out[one.name] = enough or (bool(answered) and not one.gated)
    return out


def strong(scores: Sequence[QAScore], sets: Sequence[QASet], least: int) -> list[QAScore]:
    """The scores of items seen at least `least` times in training."""
    seen = {i.item_id: i.repetitions for one in sets for i in one.items}
    return [s for s in scores if seen.get(s.item_id, -1) >= least]


def ratios(scores: Sequence[QAScore]) -> list[float]:
    return [s.truth_ratio for s in scores if s.truth_ratio is not None]


def forget_scores(measured: VariantScores, sets: Sequence[QASet]) -> list[QAScore]:
    return [s for one in sets if one.role == "forget" for s in measured.qa[one.name]]


def strong_group(name: str, least: int) -> str:
    """The group of a forget set's items seen at least `least` times: `<name>_r<least>plus`."""
    return f"{name}_r{least}plus"


def forget_quality(
    measured: VariantScores, retain: VariantScores, sets: Sequence[QASet], least: int
) -> dict[str, tuple[float, int]]:
    """KS p-value of each forget set's (and of its items seen >= `least` times) truth ratios
    against the retain model's, with the number of items; a group without ratios on either
    side is left out."""
    out = {}
    for one in (s for s in sets if s.role == "forget"):
        mine, gold = measured.qa[one.name], retain.qa[one.name]
        groups = {one.name: (mine, gold), strong_group(one.name, least): (
            strong(mine, sets, least), strong(gold, sets, least))}  # fmt: skip
        for group, (a, b) in groups.items():
            if ratios(a) and ratios(b):
                out[group] = (ks_forget_quality(ratios(a), ratios(b)), len(ratios(a)))
    return out


def qa_figures(label: str, one: QASet, scores: Sequence[QAScore]) -> list[Figure]:
    """A set's means (probability, ROUGE-L, truth ratio and its utility statistic) and shares
    with intervals (answered, multiple-choice accuracy). A forget or control set's figures
    have no better direction."""
    better = True if one.role == "retain" else None
    n, with_r = len(scores), ratios(scores)
    out = [Figure("utility", "qa_probability", label, one.name,
                  mean([s.probability for s in scores]), better, n),
           Figure("utility", "qa_rouge_l", label, one.name, mean([s.rouge_l for s in scores]),
                  better, n)]  # fmt: skip
    if with_r:
        out.append(Figure("utility", "qa_truth_ratio", label, one.name, mean(with_r), None,
                          len(with_r)))  # fmt: skip
        out.append(Figure("utility", "qa_truth_score", label, one.name,
                          mean([truth_score(r) for r in with_r]), better, len(with_r)))  # fmt: skip
    template = Figure("utility", "qa_answered", label, one.name, 0.0, better)
    out += share_figures(template, sum(s.answered for s in scores), n)
    asked = [s.mcq_correct for s in scores if s.mcq_correct is not None]
    mcq = Figure("utility", "mcq_accuracy", label, one.name, 0.0, better)
    return out + share_figures(mcq, sum(asked), len(asked))


def collapse_rule(config: UtilityConfig) -> CollapseRule:
    return CollapseRule(config.ppl_factor, config.max_repeated_share, config.min_distinct_share)


def general_figures(measured: VariantScores, reasons: Sequence[str]) -> list[Figure]:
    """Perplexity on general text's eval half, the fluency shares with their intervals, and the
    collapse flag (1: collapsed; n: the continuations behind the fluency guards); none of them
    without general text."""
    label, found = measured.label, measured.fluency
    if measured.ppl is None:
        return []
    out = [Figure("utility", "general_ppl", label, GENERAL, measured.ppl, False, measured.tokens)]
    repeated = Figure("utility", "repeated_4gram_share", label, GENERAL, 0.0, False)
    out += share_figures(repeated, found.repeated_4gram, found.fourgrams)
    out += share_figures(Figure("utility", "distinct_2", label, GENERAL, 0.0, True),
                         found.distinct_2, found.bigrams)  # fmt: skip
    out.append(Figure("utility", "collapsed", label, "", float(bool(reasons)), False,
                      found.continuations))  # fmt: skip
    return out


def pooled_share(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def clean(value: float | None) -> float | None:
    """JSON holds no NaN: None instead."""
    return None if value is None or not math.isfinite(value) else float(value)


def absent_forget_quality(run: UtilityRun, label: str, labels: Sequence[str]) -> str:
    """Why a variant has no forget quality."""
    if not any(one.role == "forget" for one in run.sets.qa):
        return "no forget set was given"
    if label == run.retain_label:
        return "this is the retain model"
    if run.retain_label not in labels:
        return "no retain model was given"
    return "the forget items have no perturbed answers (no truth ratio)"


def variant_summary(measured: VariantScores, run: UtilityRun, judged: dict) -> dict:
    """One variant's summary entry: the keys below, and `absent` for why one is missing."""
    retain_side = [one for one in run.sets.qa if judged["qualified"].get(one.name)]
    kept = [s for one in retain_side for s in measured.qa[one.name]]
    asked = [s.mcq_correct for one in run.sets.qa if one.role == "retain"
             for s in measured.qa[one.name] if s.mcq_correct is not None]  # fmt: skip
    entry: dict = {
        "model_utility": clean(model_utility([measured.qa[one.name] for one in retain_side])),
        "model_utility_sets": [one.name for one in retain_side],
        "general_ppl": clean(measured.ppl), "general_tokens": measured.tokens,
        "retain_rouge_l": clean(mean([s.rouge_l for s in kept])), "retain_n": len(kept),
        "mcq_accuracy": pooled_share(asked), "mcq_n": len(asked),
        "repeated_4gram_share": measured.fluency.repeated_share,
        "distinct_2": measured.fluency.distinct_share,
        "collapsed": bool(judged["collapse"]), "collapse_reasons": judged["collapse"],
    }  # fmt: skip
    absent = {}
    if measured.ppl is None:
        entry["collapsed"] = None
        absent |= {key: "no general text was given" for key in ("general_ppl", "collapsed")}
    if entry["model_utility"] is None:
        absent["model_utility"] = "no retain-side QA set qualifies or none was given"
    forgetting, why = forget_entry(measured, run, judged)
    return entry | forgetting | {"absent": absent | why}


def forget_entry(measured: VariantScores, run: UtilityRun, judged: dict) -> tuple[dict, dict]:
    """The forget keys of a variant's summary entry (on the first forget set), and why any is
    absent."""
    entry, absent = {}, {}
    forgotten = forget_scores(measured, run.sets.qa)
    if forgotten:
        entry["forget_rouge_l"] = mean([s.rouge_l for s in forgotten])
        entry["forget_n"] = len(forgotten)
    else:
        absent["forget_rouge_l"] = "no forget set was given"
    first = next((one.name for one in run.sets.qa if one.role == "forget"), None)
    quality = judged["forget_quality"]
    if first in quality:
        entry["forget_quality"], entry["forget_quality_n"] = quality[first]
        strong_name = strong_group(first, judged["strong"])
        if strong_name in quality:
            entry["forget_quality_strong"], entry["forget_quality_strong_n"] = quality[strong_name]
    else:
        absent["forget_quality"] = absent_forget_quality(run, measured.label, judged["labels"])
    return entry, absent


def sample_rows(measured: VariantScores, sets: Sequence[QASet]) -> Iterator[dict]:
    """The variant's rows of the `utility` table: each general-text passage's NLL and
    tokens, each QA item's metrics (the greedy answer beside its ROUGE-L)."""
    label = measured.label
    for k, (total, count) in enumerate(measured.passages):
        base = {"variant": label, "set": GENERAL, "role": "general", "item_id": f"general-{k:04d}",
                "repetitions": -1, "detail": ""}  # fmt: skip
        yield base | {"metric": "nll", "value": total / max(count, 1)}
        yield base | {"metric": "tokens", "value": float(count)}
    for one in sets:
        seen = {i.item_id: i.repetitions for i in one.items}
        for score in measured.qa[one.name]:
            base = {"variant": label, "set": one.name, "role": one.role,
                    "item_id": score.item_id, "repetitions": seen[score.item_id]}  # fmt: skip
            yield base | {"metric": "probability", "value": score.probability, "detail": ""}
            yield base | {"metric": "rouge_l", "value": score.rouge_l, "detail": score.greedy}
            yield base | {"metric": "answered", "value": float(score.answered), "detail": ""}
            if score.truth_ratio is not None:
                yield base | {"metric": "truth_ratio", "value": score.truth_ratio, "detail": ""}
            if score.mcq_correct is not None:
                yield base | {"metric": "mcq_correct", "value": float(score.mcq_correct),
                              "detail": ""}  # fmt: skip


def judge(
    scores: dict[str, VariantScores], run: UtilityRun, config: UtilityConfig
) -> UtilityResult:
    """Figures, table and summary of every variant, judged against the subject and the retain
    model."""
    subject, retain = scores[run.subject], scores.get(run.retain_label)
    retain_side = [one for one in run.sets.qa if one.role == "retain"]
    qualified = qualifying(subject, retain_side, config.qualify_share)
    before_ppl = subject.ppl
    figures: list[Figure] = []
    variants = {}
    for label, measured in scores.items():
        reasons = [] if measured.ppl is None else collapse_reasons(
            measured.ppl, before_ppl, measured.fluency, collapse_rule(config))  # fmt: skip
        quality = {} if retain is None or label == run.retain_label else forget_quality(
            measured, retain, run.sets.qa, config.strong_exposure)  # fmt: skip
        judged = {"qualified": qualified, "collapse": reasons, "forget_quality": quality,
                  "strong": config.strong_exposure, "labels": list(scores)}  # fmt: skip
        entry = variant_summary(measured, run, judged)
        variants[label] = entry
        figures += general_figures(measured, reasons)
        for one in run.sets.qa:
            figures += qa_figures(label, one, measured.qa[one.name])
        if entry["model_utility"] is not None:
            figures.append(Figure("utility", "model_utility", label, "", entry["model_utility"],
                                  True, len(entry["model_utility_sets"])))  # fmt: skip
        figures += [
            Figure("utility", "forget_quality", label, group, value, True, n)
            for group, (value, n) in quality.items()
        ]
    rows = [row for m in scores.values() for row in sample_rows(m, run.sets.qa)]
    table = pa.Table.from_pylist(rows, schema=table_schema("utility").schema)
    return UtilityResult(table, figures, summary(run, qualified, variants, config))


def summary(
    run: UtilityRun, qualified: dict[str, bool], variants: dict, config: UtilityConfig
) -> dict:
    """`utility_summary.json`: the sets (role, size, source, whether they qualify) and each
    variant's entry, in the audit summary's shape."""
    sets = {one.name: {"role": one.role, "n": len(one.items), "source": one.source,
                       "qualifies": qualified.get(one.name)} for one in run.sets.qa}  # fmt: skip
    general = run.sets.eval
    sets[GENERAL] = {"role": "general", "n": len(general.passages), "source": general.source,
                     "guard_n": len(run.sets.guard.passages)}  # fmt: skip
    return {"subject": run.subject, "retain_model": run.retain_label
            if run.retain_label in variants else None, "sets": sets, "variants": variants,
            "settings": config.model_dump(mode="json")}  # fmt: skip
