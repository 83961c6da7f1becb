from __future__ import annotations

import pytest

from forgetflow.memorization.ledger import (
    append,
    beyond,
    holdout_threshold,
    ledger_rows,
    outliers,
    steps,
    summary,
)
from forgetflow.memorization.metrics import SampleScore


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
        + scores("holdout", [0.3, 0.3], [3.0, 3.0]),
        step=10,
    )
    return append(before, after)


def test_threshold_is_the_holdout_mean_and_outliers_lie_beyond_it() -> None:
    ledger = constructed_ledger()
    found = outliers(ledger, step=0, metric="ma")
    assert found.threshold == pytest.approx(0.3)
    assert found.sample_ids == ("forget-0", "forget-1")
    assert outliers(ledger, step=10, metric="ma").sample_ids == ("forget-0",)


def test_lower_is_more_memorized_for_loss() -> None:
    found = outliers(constructed_ledger(), step=0, metric="loss")
    assert found.threshold == pytest.approx(3.0)
    assert found.sample_ids == ("forget-0", "forget-1")  # loss below the holdout mean


def test_a_quantile_threshold_keeps_that_share_of_non_members_on_their_side() -> None:
    holdout = [float(v) for v in range(101)]  # 0 .. 100
    assert holdout_threshold(holdout, +1, "quantile", 0.95) == pytest.approx(95.0)
    assert holdout_threshold(holdout, -1, "quantile", 0.95) == pytest.approx(5.0)
    assert holdout_threshold(holdout, +1, "mean") == pytest.approx(50.0)
    forget = {"a": 96.0, "b": 95.0, "c": 4.0, "d": 50.0}
    assert beyond(forget, 95.0, +1) == ("a",)  # strictly beyond
    assert beyond(forget, 5.0, -1) == ("c",)


def test_quantile_outliers_on_a_constructed_ledger() -> None:
    ledger = constructed_ledger()  # holdout MA at step 0: 0.2, 0.4
    found = outliers(ledger, 0, "ma", rule="quantile", quantile=0.5)
    assert found.threshold == pytest.approx(0.3) and found.rule == "quantile:0.5"
    strict = outliers(ledger, 0, "ma", rule="quantile", quantile=0.9)
    assert strict.threshold == pytest.approx(0.38)
    assert strict.sample_ids == ("forget-0", "forget-1")
    assert outliers(ledger, 0, "loss", rule="quantile", quantile=0.9).threshold == pytest.approx(
        2.2
    )  # lower loss is more memorized: the 10% quantile


def test_summary_and_steps() -> None:
    ledger = constructed_ledger()
    assert steps(ledger) == [0, 10]
    got = summary(ledger, 0)
    assert got["forget_ma_mean"] == pytest.approx((0.9 + 0.5 + 0.2) / 3)
    assert got["holdout_loss_mean"] == pytest.approx(3.0)
    assert got["outliers"] == 2.0 and got["ma_threshold"] == pytest.approx(0.3)
    assert got["forget_ma_p50"] == pytest.approx(0.5)
    assert got["holdout_loss_p10"] == pytest.approx(2.2)
    assert "forget_ma_mean" in summary(ledger, 10) and summary(ledger, 10)["outliers"] == 1.0


def test_bad_requests_raise_clear_errors() -> None:
    ledger = constructed_ledger()
    with pytest.raises(ValueError, match="bogus"):
        outliers(ledger, 0, "bogus")
    with pytest.raises(ValueError, match="no holdout zlib at step 0"):
        outliers(ledger, 0, "zlib")  # a known metric this ledger lacks
    with pytest.raises(ValueError, match="unknown threshold rule"):
        outliers(ledger, 0, "ma", rule="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quantile must lie in"):
        outliers(ledger, 0, "ma", rule="quantile", quantile=1.0)
    with pytest.raises(ValueError, match="no holdout ma at step 5"):
        outliers(ledger, 5, "ma")
