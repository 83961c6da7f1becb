from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from forgetflow.audit.roc import (
    RocInputError,
    hanley_mcneil_se,
    holdout_warning,
    over_unlearning_warning,
    privleak,
    roc_auc,
    roc_points,
    summarize,
    tpr_at_fpr,
)


def sklearn_auc(members, nonmembers) -> float:
    labels = [1] * len(members) + [0] * len(nonmembers)
    return float(roc_auc_score(labels, list(members) + list(nonmembers)))


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_scikit_learn_on_random_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    members = rng.normal(0.5, 1.0, size=rng.integers(1, 40)).tolist()
    nonmembers = rng.normal(0.0, 1.0, size=rng.integers(1, 40)).tolist()
    assert roc_auc(members, nonmembers) == pytest.approx(
        sklearn_auc(members, nonmembers), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_scikit_learn_on_tied_scores(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    members = rng.integers(0, 4, size=30).astype(float).tolist()  # four values: many ties
    nonmembers = rng.integers(0, 3, size=25).astype(float).tolist()
    assert roc_auc(members, nonmembers) == pytest.approx(
        sklearn_auc(members, nonmembers), abs=1e-12
    )
    assert roc_auc([1.0, 1.0], [1.0]) == 0.5  # all tied: a coin


def test_auc_by_construction() -> None:
    assert roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert roc_auc([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert roc_auc([1.0, 3.0], [2.0]) == 0.5


def test_roc_points_match_scikit_learn_and_keep_a_tied_group_whole() -> None:
    members, nonmembers = [0.9, 0.7, 0.7, 0.2], [0.7, 0.4, 0.1]
    fpr, tpr = roc_points(members, nonmembers)
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 2 / 3, 1])
    assert tpr.tolist() == pytest.approx([0, 0.25, 0.75, 0.75, 1, 1])  # 0.7: one step, 2 + 1
    labels = [1] * 4 + [0] * 3
    sk_fpr, sk_tpr, _ = roc_curve(labels, members + nonmembers, drop_intermediate=False)
    assert sk_fpr.tolist() == pytest.approx(fpr.tolist())
    assert sk_tpr.tolist() == pytest.approx(tpr.tolist())
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(members, nonmembers))


def constructed() -> tuple[list[float], list[float]]:
    """100 non-members: one at 0.85, one at 0.5, 98 below 0.1; members at 0.9, 0.8, 0.7, 0.3.
    ROC: (0, .25) at 0.9; (.01, .25) at 0.85; (.01, .5) at 0.8; (.01, .75) at 0.7; (.02, .75)
    at 0.5; (.02, 1) at 0.3."""
    nonmembers = [0.85, 0.5] + [i / 1000 for i in range(98)]
    return [0.9, 0.8, 0.7, 0.3], nonmembers


def test_tpr_at_fpr_is_the_largest_tpr_at_or_below_it() -> None:
    members, nonmembers = constructed()
    assert tpr_at_fpr(members, nonmembers, 0.01) == 0.75
    assert tpr_at_fpr(members, nonmembers, 0.02) == 1.0
    assert tpr_at_fpr(members, nonmembers, 0.015) == 0.75
    labels = [1] * 4 + [0] * 100
    sk_fpr, sk_tpr, _ = roc_curve(labels, members + nonmembers, drop_intermediate=False)
    assert tpr_at_fpr(members, nonmembers, 0.01) == sk_tpr[sk_fpr <= 0.01].max()


def test_a_tpr_below_the_resolvable_fpr_is_not_reported() -> None:
    members, nonmembers = constructed()
    assert tpr_at_fpr(members, nonmembers[:99], 0.01) is None  # 99 < 1 / 0.01
    assert tpr_at_fpr(members, nonmembers, 0.001) is None
    summary = summarize(members, nonmembers[:99], fpr=0.01)
    assert summary.tpr is None and summary.min_resolvable_fpr == pytest.approx(1 / 99)
    assert summarize(members, nonmembers, fpr=0.01).tpr == 0.75
    assert tpr_at_fpr(members, nonmembers[:10], 0.1) == 0.75  # 10 non-members resolve 10%


def test_hanley_mcneil_on_a_known_case() -> None:
    # A = 0.8, 50 and 50: Q1 = 0.8 / 1.2 = 2/3, Q2 = 1.28 / 1.8 = 32/45,
    # SE^2 = (0.16 + 49 (2/3 - 0.64) + 49 (32/45 - 0.64)) / 2500 = 0.00198044...
    expected = math.sqrt((0.16 + 49 * (2 / 3 - 0.64) + 49 * (32 / 45 - 0.64)) / 2500)
    assert hanley_mcneil_se(0.8, 50, 50) == pytest.approx(expected, rel=1e-12)
    assert hanley_mcneil_se(0.8, 50, 50) == pytest.approx(0.0445, abs=5e-5)
    assert hanley_mcneil_se(1.0, 10, 10) == 0.0
    # A = 0.5, 1 and 1: SE^2 = 0.25, so SE = 0.5
    assert hanley_mcneil_se(0.5, 1, 1) == pytest.approx(0.5)


def test_summary_interval_is_auc_plus_minus_1_96_se_clipped() -> None:
    rng = np.random.default_rng(7)
    members, nonmembers = rng.normal(1, 1, 50).tolist(), rng.normal(0, 1, 60).tolist()
    s = summarize(members, nonmembers)
    assert s.auc == pytest.approx(sklearn_auc(members, nonmembers))
    assert s.se == pytest.approx(hanley_mcneil_se(s.auc, 50, 60))
    assert (s.low, s.high) == pytest.approx((s.auc - 1.959964 * s.se, s.auc + 1.959964 * s.se))
    assert (s.n_members, s.n_nonmembers) == (50, 60)
    assert summarize([1.0, 2.0], [0.0]).high == 1.0


def test_privleak_is_the_relative_auc_gap_to_the_retain_model() -> None:
    assert privleak(0.75, 0.5) == pytest.approx(0.5)
    assert privleak(0.5, 0.5) == 0.0
    assert privleak(0.4, 0.5) == pytest.approx(-0.2)
    with pytest.raises(RocInputError, match="above 0"):
        privleak(0.5, 0.0)


def test_warnings_are_returned_not_printed(capsys) -> None:
    low = summarize([0.0] * 20, [1.0] * 20)  # AUC 0: members look least like members
    assert "detectable" in over_unlearning_warning(low, "after forget")
    fair = summarize([0.0, 1.0] * 10, [0.0, 1.0] * 10)  # AUC 0.5
    assert over_unlearning_warning(fair, "after") is None
    assert holdout_warning(fair, "retain") is None
    high = summarize([2.0] * 20, [1.0] * 20)  # the retain model tells them apart: AUC 1
    assert "not representative" in holdout_warning(high, "retain")
    slightly = summarize([0.0] * 1 + [1.0] * 2, [0.5] * 3)  # AUC 2/3, 3 and 3: SE is wide
    assert holdout_warning(slightly, "retain") is None
    assert capsys.readouterr().out == ""


def test_bad_scores_are_one_line() -> None:
    with pytest.raises(RocInputError, match="at least one member"):
        roc_auc([], [1.0])
    with pytest.raises(RocInputError, match="not finite"):
        roc_auc([float("nan")], [1.0])
    with pytest.raises(RocInputError, match=r"\(0, 1\)"):
        tpr_at_fpr([1.0], [0.0], 0.0)
