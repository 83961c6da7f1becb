from __future__ import annotations

import pyarrow as pa
import pytest

from forgetflow.memorization.ledger import append, ledger_rows
from forgetflow.memorization.metrics import SampleScore
from forgetflow.report.markdown import ReportInputs, headline, render_report


def build() -> ReportInputs:
    def scored(step: int, forget_ma: float) -> pa.Table:
        return ledger_rows([SampleScore("f", "forget", {"ma": forget_ma}),
                            SampleScore("h", "holdout", {"ma": 0.2})], step)  # fmt: skip

    extraction = pa.table({
        "sample_id": ["f", "r", "f", "r"], "split": ["forget", "retain"] * 2,
        "repetitions": [32] * 4,
        "model": ["before", "before", "after", "after"], "prefix_tokens": [3] * 4,
        "suffix_tokens": [9] * 4, "exact": [True, True, False, True],
        "token_match": [1.0, 1.0, 0.1, 1.0],
    })  # fmt: skip
    utility = pa.table({"split": ["retain", "retain"], "model": ["before", "after"],
                        "tokens": [10, 10], "nll": [0.1, 0.2],
                        "perplexity": [1.0, 1.25]})  # fmt: skip
    return ReportInputs(
        title="t", facts={"model": "m"}, ledger=append(scored(0, 0.9), scored(5, 0.1)),
        twins=pa.table({"sample_id": ["f~twin"], "source_id": ["f"], "text": ["x"],
                        "backend": ["template"]}),
        training_log=pa.table({"step": [5], "name": ["loss"], "value": [1.5]}),
        extraction=extraction, utility=utility,
    )  # fmt: skip


def test_headline_figures() -> None:
    figures = headline(build())
    assert figures["forget_extraction_drop_points"] == 100.0
    assert figures["retain_extraction_drop_points"] == 0.0
    assert figures["forget_extraction_before_pct"] == 100.0
    assert figures["retain_perplexity_change_pct"] == pytest.approx(25.0)


def test_report_has_a_section_per_stage_with_before_and_after() -> None:
    text = render_report(build())
    for heading in ("Memorization scoring", "Anti-samples", "Unlearning", "Extraction audit",
                    "Utility"):  # fmt: skip
        assert heading in text
    assert "| forget_extraction | 100 | 0 | -100 |" in text
    assert "| forget_r32_extraction | 100 | 0 | -100 |" in text
    assert "| forget_ma_mean | 0.9 | 0.1 |" in text
    assert "1 falsified twins from backend(s): template." in text


def test_buckets_are_ordered_by_exposures() -> None:
    from forgetflow.report.markdown import group_order

    groups = ["retain", "forget_r16", "forget_r2", "forget", "forget_r32"]
    assert sorted(groups, key=group_order) == [
        "forget", "forget_r2", "forget_r16", "forget_r32", "retain"
    ]  # fmt: skip
