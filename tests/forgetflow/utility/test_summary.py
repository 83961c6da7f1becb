"""Utility's judgement on constructed scores: model utility, qualification, forget quality,
the collapse flag and the summary's keys, each against a formula written here."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from scipy.stats import ks_2samp

from forgetflow.records import ModelVariant
from forgetflow.utility.config import UtilityConfig
from forgetflow.utility.fluency import Fluency
from forgetflow.utility.measured import UtilityRun, VariantScores
from forgetflow.utility.qa import QAScore
from forgetflow.utility.sets import QAItem, QASet, TextSet, UtilitySets
from forgetflow.utility.summary import judge, model_utility

HEALTHY = Fluency(repeated_4gram=2, fourgrams=100, distinct_2=90, bigrams=100, continuations=4)
LOOPING = Fluency(repeated_4gram=90, fourgrams=100, distinct_2=5, bigrams=100, continuations=4)


def score(item: str, prob: float, rouge: float, ratio: float | None, answered: bool = True,
          mcq: bool | None = None) -> QAScore:  # fmt: skip
    return QAScore(item, prob, rouge, answered, "", ratio, mcq)


def harmonic(values: list[float]) -> float:
    return len(values) / sum(1.0 / v for v in values)


def test_model_utility_is_the_harmonic_mean_of_each_sets_means() -> None:
    first = [score("a", 0.8, 1.0, 0.5), score("b", 0.4, 0.5, 1.5)]  # max(0, 1 - R): 0.5, 0
    second = [score("c", 0.9, 0.6, None)]  # no truth ratio: two numbers only
    expected = harmonic([0.6, 0.75, 0.25, 0.9, 0.6])
    assert model_utility([first, second]) == pytest.approx(expected, rel=1e-12)
    assert model_utility([[score("a", 0.8, 0.0, 0.5)]]) == 0.0  # a zero ROUGE-L
    assert model_utility([]) is None


def sets_and_run(labels: list[str]) -> UtilityRun:
    kept = tuple(QAItem(f"k{i}", "Q?", "A", perturbed_answers=("B",)) for i in range(4))
    forgot = tuple(QAItem(f"f{i}", "Q?", "A", perturbed_answers=("B",), repetitions=2 ** i)
                   for i in range(6))  # fmt: skip
    sets = UtilitySets(TextSet("guard", ("g1",), "x"), TextSet("eval", ("e1",), "x"),
                       (QASet("kept", "retain", kept, "k.jsonl"),
                        QASet("weak", "retain", kept, "w.jsonl"),
                        QASet("forget", "forget", forgot, "f.jsonl")))  # fmt: skip
    return UtilityRun([ModelVariant(label, Path(label)) for label in labels], sets)


def scores(label: str, forget_ratios: list[float], answered: int, nll: float,
           fluency: Fluency = HEALTHY) -> VariantScores:  # fmt: skip
    kept = [score(f"k{i}", 0.5, 0.8, 0.4, i < answered, i % 2 == 0) for i in range(4)]
    weak = [score(f"k{i}", 0.1, 0.1, 0.9, i < 1) for i in range(4)]
    forget = [score(f"f{i}", 0.5, 0.5, r) for i, r in enumerate(forget_ratios)]
    return VariantScores(label, ((nll * 100, 100),), {"kept": kept, "weak": weak,
                                                      "forget": forget}, fluency)  # fmt: skip


def test_forget_quality_is_the_ks_p_value_against_the_retain_models_ratios() -> None:
    target = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
    gold = [0.9, 1.1, 1.0, 0.95, 1.05, 1.2]
    run = sets_and_run(["before", "retain_model"])
    found = {"before": scores("before", target, 3, 2.0),
             "retain_model": scores("retain_model", gold, 3, 2.0)}  # fmt: skip
    result = judge(found, run, UtilityConfig(strong_exposure=4))
    entry = result.summary["variants"]["before"]
    # fully separated samples of 6 and 6: the exact two-sided p-value is 2 / C(12, 6)
    assert entry["forget_quality"] == pytest.approx(2 / math.comb(12, 6), rel=1e-9)
    assert entry["forget_quality_n"] == 6
    assert entry["forget_quality_strong"] == pytest.approx(ks_2samp(target[2:], gold[2:]).pvalue)
    assert entry["forget_quality_strong_n"] == 4  # repetitions 4, 8, 16, 32
    assert "forget_quality" not in result.summary["variants"]["retain_model"]
    assert result.summary["variants"]["retain_model"]["absent"]["forget_quality"] == (
        "this is the retain model"
    )


def test_a_set_enters_model_utility_only_where_the_subject_answers_half_of_it() -> None:
    run = sets_and_run(["before", "after"])
    found = {"before": scores("before", [1.0] * 6, 2, 2.0),
             "after": scores("after", [1.0] * 6, 0, 2.0)}  # fmt: skip
    result = judge(found, run, UtilityConfig())
    after = result.summary["variants"]["after"]
    assert result.summary["sets"]["kept"]["qualifies"] is True  # 2 of 4 by the subject
    assert result.summary["sets"]["weak"]["qualifies"] is False  # 1 of 4
    assert after["model_utility_sets"] == ["kept"]
    assert after["model_utility"] == pytest.approx(harmonic([0.5, 0.8, 0.6]), rel=1e-12)
    assert after["mcq_accuracy"] == 0.5 and after["mcq_n"] == 4  # the kept set has choices
    assert after["absent"]["forget_quality"] == "no retain model was given"


def test_the_collapse_flag_fires_on_perplexity_and_on_repetition_and_not_on_the_subject() -> None:
    run = sets_and_run(["before", "broken", "looping"])
    found = {"before": scores("before", [1.0] * 6, 3, 2.0),
             "broken": scores("broken", [1.0] * 6, 3, 2.0 + math.log(6.0)),  # 6x the perplexity
             "looping": scores("looping", [1.0] * 6, 3, 2.0, LOOPING)}  # fmt: skip
    variants = judge(found, run, UtilityConfig()).summary["variants"]
    assert not variants["before"]["collapsed"] and variants["before"]["collapse_reasons"] == []
    assert (
        variants["broken"]["collapsed"]
        and "perplexity" in variants["broken"]["collapse_reasons"][0]
    )
    assert variants["looping"]["collapse_reasons"] == [
        "repeated 4-gram share 0.90 > 0.5",
        "distinct-2 0.05 < 0.2",
    ]
    assert variants["broken"]["general_ppl"] == pytest.approx(6 * math.exp(2.0), rel=1e-9)


def test_the_table_has_a_row_per_variant_item_and_metric() -> None:
    run = sets_and_run(["before"])
    result = judge({"before": scores("before", [1.0] * 6, 3, 2.0)}, run, UtilityConfig())
    rows = result.samples.to_pylist()
    per_item = [r for r in rows if r["item_id"] == "k1" and r["set"] == "kept"]
    assert {r["metric"]: r["value"] for r in per_item} == {
        "probability": 0.5, "rouge_l": 0.8, "answered": 1.0, "truth_ratio": 0.4,
        "mcq_correct": 0.0}  # fmt: skip
    assert [r["value"] for r in rows if r["set"] == "general_eval"] == [2.0, 100.0]
    assert {r["repetitions"] for r in rows if r["set"] == "forget"} == {1, 2, 4, 8, 16, 32}


def test_a_set_that_is_not_gated_enters_model_utility_however_little_is_answered() -> None:
    run = sets_and_run(["before"])
    weak = next(s for s in run.sets.qa if s.name == "weak")
    ungated = replace(weak, gated=False)
    sets = replace(run.sets, qa=tuple(ungated if s is weak else s for s in run.sets.qa))
    result = judge({"before": scores("before", [1.0] * 6, 0, 2.0)}, replace(run, sets=sets),
                   UtilityConfig())  # fmt: skip
    assert result.summary["sets"]["weak"]["qualifies"] is True  # 1 of 4 answered
    assert result.summary["sets"]["kept"]["qualifies"] is False  # 0 of 4, gated
    assert result.summary["variants"]["before"]["model_utility"] == pytest.approx(
        harmonic([0.1, 0.1, 0.1]), rel=1e-12)  # fmt: skip
