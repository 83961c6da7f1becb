from __future__ import annotations

import pytest

from forgetflow.memorization.ledger import append, ledger_rows, outliers, steps, summary
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


def test_summary_and_steps() -> None:
    ledger = constructed_ledger()
    assert steps(ledger) == [0, 10]
    got = summary(ledger, 0)
    assert got["forget_ma_mean"] == pytest.approx((0.9 + 0.5 + 0.2) / 3)
    assert got["holdout_loss_mean"] == pytest.approx(3.0)
    assert got["outliers"] == 2.0 and got["ma_threshold"] == pytest.approx(0.3)


def test_bad_requests_raise_clear_errors() -> None:
    ledger = constructed_ledger()
    with pytest.raises(KeyError, match="unknown metric"):
        outliers(ledger, 0, "zlib")
    with pytest.raises(ValueError, match="no holdout ma at step 5"):
        outliers(ledger, 5, "ma")
