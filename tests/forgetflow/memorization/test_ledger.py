from __future__ import annotations

import pytest

from forgetflow.memorization.ledger import (
    append,
    beside_figures,
    beyond,
    ledger_figures,
    ledger_rows,
    outliers,
    steps,
)
from forgetflow.memorization.metrics import SampleScore
from forgetflow.memorization.thresholds import ThresholdRule, Thresholds

MEAN = ThresholdRule(rule="mean")


def quantile(q: float) -> ThresholdRule:
    return ThresholdRule(rule="quantile", quantile=q)


def scores(split: str, mas: list[float], losses: list[float]) -> list[SampleScore]:
    return [
        SampleScore(f"{split}-{i}", split, {"ma": ma, "loss": loss})
        for i, (ma, loss) in enumerate(zip(mas, losses, strict=True))
    ]


def constructed_ledger():
    before = ledger_rows(
        scores("forget", [0.9, 0.5, 0.2], [0.1, 1.0, 3.0])
        + scores("holdout", [0.2, 0.4], [2.0, 4.0]),
        step=0,
    )
    after = ledger_rows(
        scores("forget", [0.35, 0.1, 0.1], [2.0, 5.0, 5.0])
        + scores("holdout", [0.6, 0.6], [3.0, 3.0]),  # the unlearned model's holdout
        step=10,
    )
    return append(before, after)


def test_threshold_is_the_holdout_mean_and_outliers_lie_beyond_it() -> None:
    ledger = constructed_ledger()
    found = outliers(ledger, 0, "ma", MEAN)
    assert found.threshold == pytest.approx(0.3)
    assert found.sample_ids == ("forget-0", "forget-1")


def test_after_training_the_threshold_stays_the_one_calibrated_before() -> None:
    """The holdout rescored on the unlearned model (MA 0.6) does not move the line: the after
    model is judged by the step-0 threshold, as the loop's policy judges it."""
    after = outliers(constructed_ledger(), 10, "ma", MEAN)
    assert after.threshold == pytest.approx(0.3)
    assert after.sample_ids == ("forget-0",)
    figures = ledger_figures(constructed_ledger(), 10, "after", "ma", MEAN)
    threshold = next(f for f in figures if f.metric == "ma_threshold")
    assert (
        threshold.value == pytest.approx(0.3)
        and threshold.key == "memorization/after/holdout/ma_threshold"
    )


def test_lower_is_more_memorized_for_loss() -> None:
    found = outliers(constructed_ledger(), 0, "loss", MEAN)
    assert found.threshold == pytest.approx(3.0)
    assert found.sample_ids == ("forget-0", "forget-1")  # loss below the holdout mean


def test_a_quantile_threshold_keeps_that_share_of_non_members_on_their_side() -> None:
    holdout = [float(v) for v in range(101)]  # 0 .. 100
    assert quantile(0.95).threshold(holdout, +1) == pytest.approx(95.0)
    assert quantile(0.95).threshold(holdout, -1) == pytest.approx(5.0)
    assert MEAN.threshold(holdout, +1) == pytest.approx(50.0)
    forget = {"a": 96.0, "b": 95.0, "c": 4.0, "d": 50.0}
    assert beyond(forget, 95.0, +1) == ("a",)  # strictly beyond
    assert beyond(forget, 5.0, -1) == ("c",)


def test_quantile_outliers_on_a_constructed_ledger() -> None:
    ledger = constructed_ledger()  # holdout MA at step 0: 0.2, 0.4
    found = outliers(ledger, 0, "ma", quantile(0.5))
    assert found.threshold == pytest.approx(0.3) and found.rule == "quantile:0.5"
    strict = outliers(ledger, 0, "ma", quantile(0.9))
    assert strict.threshold == pytest.approx(0.38)
    assert strict.sample_ids == ("forget-0", "forget-1")
    # lower loss is more memorized: the 10% quantile
    assert outliers(ledger, 0, "loss", quantile(0.9)).threshold == pytest.approx(2.2)


def figures_of(ledger, step: int, metric: str, quantiles: bool = False) -> dict:
    found = ledger_figures(ledger, step, "v", metric, MEAN, quantiles)
    return {(f.group, f.metric): f for f in found}


def test_ledger_figures_and_steps() -> None:
    ledger = constructed_ledger()
    assert steps(ledger) == [0, 10]
    got = figures_of(ledger, 0, "ma", quantiles=True)
    assert got["forget", "ma_mean"].value == pytest.approx((0.9 + 0.5 + 0.2) / 3)
    assert got["forget", "ma_mean"].n == 3
    assert got["holdout", "loss_mean"].value == pytest.approx(3.0)
    assert got["forget", "outliers"].value == 2.0 and got["forget", "outliers"].n == 3
    assert got["holdout", "ma_threshold"].value == pytest.approx(0.3)
    assert got["forget", "ma_p50"].value == pytest.approx(0.5)
    assert got["holdout", "loss_p10"].value == pytest.approx(2.2)
    assert ("forget", "ma_p50") not in figures_of(ledger, 0, "ma")  # quantiles only when asked
    later = figures_of(ledger, 10, "ma")
    assert ("forget", "ma_mean") in later and later["forget", "outliers"].value == 1.0
    assert figures_of(ledger, 0, "loss")["holdout", "loss_threshold"].value == pytest.approx(3.0)


def test_another_model_is_judged_by_the_line_the_target_calibrated() -> None:
    """The retain model's c(D_f): its forget MA against the target's holdout line (0.3 under
    the mean rule), never against a holdout of its own."""
    gold = ledger_rows(scores("forget", [0.31, 0.3, 0.1], [1.0, 1.0, 1.0]), step=0)
    got = {f.metric: f for f in beside_figures(constructed_ledger(), gold, "retain_model", "ma",
                                               MEAN)}  # fmt: skip
    assert got["outliers"].value == 1.0 and got["outliers"].n == 3  # 0.31 only: strictly beyond
    assert got["ma_mean"].value == pytest.approx(0.71 / 3)
    assert {(f.variant, f.group) for f in got.values()} == {("retain_model", "forget")}
    # loss: lower is memorized; the target's holdout mean loss is 3.0
    by_loss = beside_figures(constructed_ledger(), gold, "retain_model", "loss", MEAN)
    assert by_loss[1].value == 3.0


def test_bad_requests_raise_clear_errors() -> None:
    ledger = constructed_ledger()
    with pytest.raises(ValueError, match="bogus"):
        outliers(ledger, 0, "bogus", MEAN)
    with pytest.raises(ValueError, match="no forget 'zlib' at step 0"):
        outliers(ledger, 0, "zlib", MEAN)  # a known metric this ledger lacks
    with pytest.raises(ValueError, match="rule"):
        ThresholdRule(rule="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quantile"):
        quantile(1.0)
    with pytest.raises(ValueError, match="no forget 'ma' at step 5"):
        outliers(ledger, 5, "ma", MEAN)


def test_every_rule_is_stated_in_words() -> None:
    said = Thresholds().describe("loss", ["ma"])
    assert "0.95 quantile of the holdout's loss" in said[0] and "5% of non-members" in said[0]
    assert "below it" in said[0]  # lower loss is more memorized
    assert said[1].startswith("Stopping rule on ma") and "mean ma of the holdout" in said[1]
    assert "not used by this run" in Thresholds().describe("ma")[1]
