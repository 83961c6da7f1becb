"""The ledger's drive rules on constructed ledgers."""

from __future__ import annotations

import pyarrow as pa
import pytest

from forgetflow.memorization.ledger import calibrated, ledger_rows
from forgetflow.memorization.metrics import SampleScore, direction
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.unlearning import policy

MEAN = ThresholdRule(rule="mean")


def ledger(steps: dict[int, dict[str, dict[str, float]]]):
    """steps[step][sample_id] = {metric: value}; ids starting with 'h' are holdout."""
    tables = []
    for step, samples in steps.items():
        scores = [SampleScore(i, "holdout" if i.startswith("h") else "forget", v)
                  for i, v in samples.items()]  # fmt: skip
        tables.append(ledger_rows(scores, step))
    return pa.concat_tables(tables)


START = {"h1": {"ma": 0.2, "el_3": 0.1}, "h2": {"ma": 0.4, "el_3": 0.3},
         "f1": {"ma": 0.9, "el_3": 0.8}, "f2": {"ma": 0.5, "el_3": 0.1},
         "f3": {"ma": 0.1, "el_3": 0.0}}  # fmt: skip


def test_threshold_is_the_holdout_at_the_first_step_and_latest_is_the_last() -> None:
    later = {"h1": {"ma": 0.9}, "h2": {"ma": 0.9}, "f1": {"ma": 0.25}, "f2": {"ma": 0.6},
             "f3": {"ma": 0.1}}  # fmt: skip
    table = ledger({0: START, 5: later})
    assert calibrated(table, "ma", MEAN) == pytest.approx(0.3)  # holdout mean at step 0
    assert policy.latest(table, "ma") == {"f1": 0.25, "f2": 0.6, "f3": 0.1}
    assert policy.remaining(table, "ma", MEAN) == ("f2",)
    with pytest.raises(ValueError, match="no holdout 'zlib'"):
        calibrated(table, "zlib", MEAN)


def test_selector_keeps_samples_beyond_and_always_the_most_memorized() -> None:
    values = {"a": 0.9, "b": 0.2, "c": 0.5, "d": 0.1}
    assert policy.select(["a", "b", "c"], values, 0.3, +1) == [0, 2]
    assert policy.select(["b", "d"], values, 0.3, +1) == [0]  # none beyond: the top one stays
    # a lower-is-memorized metric (loss): beyond means below
    assert policy.select(["a", "b", "d"], values, 0.3, -1) == [1, 2]
    # a fixed threshold (SGA's gamma) counts a sample at it: 0.5 >= 0.5
    assert policy.select(["a", "b", "c"], values, 0.5, +1) == [0]
    assert policy.select(["a", "b", "c"], values, 0.5, +1, inclusive=True) == [0, 2]
    assert policy.select(["b", "d"], values, 0.0, +1, inclusive=True) == [0, 1]  # gamma 0: all


def test_memorization_weights_have_mean_one_and_follow_memorization() -> None:
    values = {"a": 0.9, "b": 0.5, "c": 0.1}
    weights = policy.memorization_weights(["a", "b", "c"], values, +1)
    assert float(weights.mean()) == pytest.approx(1.0)
    assert weights[0] > weights[1] > weights[2] > 0
    flipped = policy.memorization_weights(["a", "b", "c"], values, -1)
    assert flipped[2] > flipped[1] > flipped[0]
    same = policy.memorization_weights(["a", "a"], values, +1)
    assert same.tolist() == [1.0, 1.0]


def test_aggregate_rule_needs_every_metric_below_its_holdout_mean() -> None:
    table = ledger({0: START})
    assert not policy.aggregate_done(table, ["ma"], MEAN)  # forget MA mean 0.5 > 0.3
    ma_low = {k: {"ma": 0.1 if k.startswith("f") else v["ma"], "el_3": v["el_3"]}
              for k, v in START.items()}  # fmt: skip
    table = ledger({0: START, 3: ma_low})
    assert policy.aggregate_done(table, ["ma"], MEAN)
    assert not policy.aggregate_done(table, ["ma", "el_3"], MEAN)  # EL mean 0.3 > 0.2
    both = {k: {"ma": 0.1, "el_3": 0.0} if k.startswith("f") else v for k, v in START.items()}
    assert policy.aggregate_done(ledger({0: START, 3: ma_low, 6: both}), ["ma", "el_3"], MEAN)


def test_per_sample_rule_waits_for_the_last_outlier() -> None:
    one_left = {"h1": {"ma": 0.2}, "h2": {"ma": 0.4}, "f1": {"ma": 0.35}, "f2": {"ma": 0.1},
                "f3": {"ma": 0.1}}  # fmt: skip
    assert policy.remaining(ledger({0: START, 2: one_left}), "ma", MEAN) == ("f1",)
    none_left = {**one_left, "f1": {"ma": 0.3}}  # on the threshold is not beyond it
    assert policy.remaining(ledger({0: START, 2: one_left, 4: none_left}), "ma", MEAN) == ()


def test_utility_guard_stops_on_the_margin_and_keeps_the_best_checkpoint() -> None:
    guard = policy.UtilityGuard(margin=0.5)
    assert not guard.record(0, 2.0, 0.9)  # the start
    assert not guard.record(2, 2.3, 0.6)
    assert not guard.record(4, 2.5, 0.4)  # on the margin: still within
    assert guard.best_step == 4
    assert guard.record(6, 2.7, 0.1)  # the lowest MA, but past the margin: stop, not best
    assert guard.best_step == 4 and guard.best_value == 0.4
    restored = policy.UtilityGuard.from_state(guard.state())
    assert restored == guard


@pytest.mark.parametrize(
    ("metric", "values", "best"),
    [("ma", [0.9, 0.3, 0.6], 1),  # higher is memorized: the lowest MA is the best
     ("loss", [0.5, 3.0, 1.5], 1),  # lower is memorized: the highest loss is the best
     ("zlib", [0.02, 0.01, 0.05], 2)],
)  # fmt: skip
def test_utility_guard_keeps_the_least_memorized_step_in_the_metrics_direction(
    metric: str, values: list[float], best: int
) -> None:
    guard = policy.UtilityGuard(margin=1.0, sign=direction(metric))
    for step, value in enumerate(values):
        assert not guard.record(step, 2.0, value)  # the retain loss stays within the margin
    assert guard.best_step == best and guard.best_value == values[best]
    assert policy.UtilityGuard.from_state(guard.state()) == guard
