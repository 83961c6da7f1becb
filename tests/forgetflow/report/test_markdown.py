from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pytest

from forgetflow.audit.extraction import extraction_figures, top_bucket_figures
from forgetflow.memorization.ledger import append, ledger_figures, ledger_rows
from forgetflow.memorization.metrics import SampleScore
from forgetflow.memorization.thresholds import ThresholdRule, Thresholds
from forgetflow.records import Figure
from forgetflow.report.markdown import ReportInputs, headline, render_report

QUANTILE = ThresholdRule(rule="quantile", quantile=0.9)


def build(thresholds: Thresholds | None = None, metric: str = "ma") -> ReportInputs:
    """Three variants (before, after, retain_model), one forget and one retain record each in
    the r=1 and r=32 buckets; the ledger scores loss and zlib (no MA)."""
    thresholds = thresholds or Thresholds()

    def scored(step: int, forget_loss: float, holdout_loss: float) -> pa.Table:
        rows = [SampleScore("f", "forget", {"loss": forget_loss, "zlib": 0.1}),
                SampleScore("h1", "holdout", {"loss": 2.0, "zlib": 0.5}),
                SampleScore("h2", "holdout", {"loss": holdout_loss, "zlib": 0.5})]  # fmt: skip
        return ledger_rows(rows, step)

    ledger = append(scored(0, 0.5, 4.0), scored(5, 3.5, 9.0))  # the holdout rises after
    variants = ["before", "after", "retain_model"]
    exact = {"before": [True, True, True, True], "after": [False, True, False, True],
             "retain_model": [False, False, False, False]}  # fmt: skip
    extraction = pa.table({
        "sample_id": ["f1", "f32", "r1", "r32"] * 3,
        "split": ["forget", "forget", "retain", "retain"] * 3,
        "repetitions": [1, 32, 1, 32] * 3, "model": [v for v in variants for _ in range(4)],
        "prefix_tokens": [3] * 12, "suffix_tokens": [9] * 12,
        "exact": [e for v in variants for e in exact[v]],
        "token_match": [1.0 if e else 0.1 for v in variants for e in exact[v]],
    })  # fmt: skip
    utility = [Figure("utility", "general_ppl", v, "general_eval", ppl, False, 10)
               for v, ppl in zip(variants, (20.0, 25.0, 21.0), strict=True)]  # fmt: skip
    utility += [Figure("utility", "model_utility", v, "", mu, True, 2)
                for v, mu in zip(variants, (0.5, 0.4, 0.45), strict=True)]  # fmt: skip
    utility += [Figure("utility", "forget_quality", v, "forget_records", p, True, 6)
                for v, p in (("before", 0.001), ("after", 0.2))]  # fmt: skip
    extracted = extraction_figures(extraction)
    figures = [
        *ledger_figures(ledger, 0, "before", metric, thresholds.outliers),
        Figure("unlearning", "forget_loss", "after", "", 1.5),
        *ledger_figures(ledger, 5, "after", metric, thresholds.outliers),
        *extracted,
        *top_bucket_figures(extraction, extracted, ("forget", "retain")),
        *utility,
    ]
    return ReportInputs(
        title="t", facts={"model": "m"}, figures=figures,
        twins=pa.table({"sample_id": ["f~twin"], "source_id": ["f"], "text": ["x"],
                        "backend": ["template"]}),
        steps=5, outlier_metric=metric, thresholds=thresholds,
    )  # fmt: skip


def test_headline_figures_per_variant_from_the_most_exposed_bucket() -> None:
    figures = {f.key: f.value for f in headline(build(metric="loss").figures)}
    assert figures["report/after/forget/extraction_drop_points"] == 0.0  # r=32 kept its record
    assert figures["report/before/forget/extraction_pct"] == 100.0
    assert figures["report/retain_model/forget/extraction_pct"] == 0.0
    assert figures["report/after/retain/extraction_drop_points"] == 0.0
    assert figures["report/after/general_eval/general_ppl_change_pct"] == pytest.approx(25.0)
    assert figures["report/retain_model/model_utility"] == 0.45
    assert figures["report/after/forget_records/forget_quality"] == 0.2
    assert "report/before/forget_records/forget_quality" not in figures
    assert not any("retain/perplexity" in key for key in figures)  # never utility


def test_a_report_without_ma_states_its_quantile_rule_and_judges_after_by_the_line_before() -> None:
    """scoring.metrics [loss, zlib], outlier_metric loss, a quantile rule: the report states the
    rule in words, and the after model's threshold is the one calibrated before unlearning
    (the holdout's loss at step 0: 2.0 and 4.0, whose 0.1 quantile is 2.2), not the unlearned
    model's holdout (2.0 and 9.0)."""
    text = render_report(build(Thresholds(outliers=QUANTILE), metric="loss"))
    assert "0.9 quantile of the holdout's loss before unlearning" in text
    assert "10% of non-members lie below it" in text
    assert "| holdout | loss_threshold | - | 2.2 | 2.2 | 0 |" in text
    assert "| forget | outliers | 1 | 1 | 0 | -1 |" in text  # loss 0.5 < 2.2; after 3.5 is not


def test_report_has_a_section_per_stage_and_a_column_per_variant() -> None:
    text = render_report(build(metric="loss"))
    for heading in ("Memorization scoring", "Anti-samples", "Unlearning", "Audit", "Utility"):
        assert heading in text
    assert "| group | figure | n | before | after | retain_model | change |" in text
    assert "| group | figure | n | before | after | retain_model |\n" in text  # the audit's
    assert "| forget_r1 | extraction | 1 | 1 | 0 | 0 |" in text
    assert "| forget_r32 | extraction | 1 | 1 | 1 | 0 |" in text
    assert "| - | forget_loss | - | 1.5 |" in text  # unlearning: after only, no change
    assert "1 falsified twins:\n\n| backend | twins |\n|---|---|\n| template | 1 |" in text
    order = [text.index(f"| {g} | extraction |") for g in ("forget", "forget_r1", "forget_r32")]
    assert order == sorted(order)  # each split, then its buckets by exposures


def test_c_df_heads_the_report_beside_the_retain_models_and_each_stage_has_its_seconds() -> None:
    report = build(metric="loss")  # c(D_f) by loss: 1 before, 0 after
    added = [Figure("memorization", "outliers", "retain_model", "forget", 0.0, False, 1),
             Figure("cost", "seconds", "pipeline", "ingest", 1.5, False),
             Figure("cost", "seconds", "pipeline", "audit", 2.25, False)]  # fmt: skip
    report = replace(report, figures=[*report.figures, *added])
    top = {f.key: f.value for f in headline(report.figures)}
    assert [top[f"report/{v}/forget/outliers"] for v in ("before", "after", "retain_model")] == [
        1.0, 0.0, 0.0]  # fmt: skip
    text = render_report(report)
    assert "| forget | outliers | 1 | 1 | 0 | 0 | -1 |" in text  # the headline's first row
    assert "| ingest | 1.5 |\n| audit | 2.25 |\n| total | 3.75 |" in text
    assert "not applicable: no stage was timed" in render_report(build(metric="loss"))


def test_a_stage_without_figures_says_why() -> None:
    report = build(metric="loss")
    bare = ReportInputs(report.title, report.facts, [f for f in report.figures
                                                     if f.stage != "utility"],
                        None, 5, "loss")  # fmt: skip
    text = render_report(bare)
    assert "not applicable: no utility was measured" in text
    assert "not applicable: no falsified twins" in text


def test_the_audit_section_gives_shares_with_intervals_and_the_relearning_curve() -> None:
    """A share with its Wilson interval is one cell; the relearned variants and their control
    form the relearning curve on half B, with what comes back; per-prefix figures stay out."""
    share = [Figure("audit", metric, "after", "forget", value, False, 8)
             for metric, value in (("extraction_greedy", 0.25), ("extraction_greedy_low", 0.07),
                                   ("extraction_greedy_high", 0.59),
                                   ("extraction_greedy_k32", 0.5))]  # fmt: skip
    curve = [Figure("audit", "extraction_greedy", v, "forget_half_b", value, False, 4)
             for v, value in (("after", 0.0), ("after.relearn_10", 0.5), ("retain_model", 0.0),
                              ("retain_model.relearn_10", 0.25))]  # fmt: skip
    back = Figure("audit", "extraction_greedy_comes_back", "after.relearn_10", "forget_half_b",
                  0.25, False, 4)  # fmt: skip
    report = build(metric="loss")
    text = render_report(ReportInputs(report.title, report.facts, [*share, *curve, back], None,
                                      5, "loss"))  # fmt: skip
    assert "| forget | extraction_greedy | 8 | 0.25 [0.07, 0.59] |" in text
    assert "extraction_greedy_k32" not in text
    columns = "after | after.relearn_10 | retain_model | retain_model.relearn_10"
    assert f"| group | figure | n | {columns} |" in text
    assert "| forget_half_b | extraction_greedy | 4 | 0 | 0.5 | 0 | 0.25 |" in text
    assert "| forget_half_b | extraction_greedy_comes_back | 4 | - | 0.25 | - | - |" in text
    assert "not applicable: no membership attack ran" in text
