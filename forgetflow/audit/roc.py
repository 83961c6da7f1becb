"""ROC statistics of a membership attack (docs/metrics.md, "Membership inference").

Scores are oriented so that a higher score means "more likely a member"; members are the
positives, non-members (the holdout) the negatives. Ties between a member and a non-member count
one half (the AUC is the Mann-Whitney statistic, equal to scikit-learn's `roc_auc_score`); the ROC
has one point per distinct score, so a tied group is one step, never split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forgetflow.intervals import Z_95


class RocInputError(ValueError):
    """The scores cannot make a ROC (an empty class, a score that is not finite)."""


@dataclass(frozen=True)
class RocSummary:
    """One attack's ROC-AUC with its Hanley-McNeil standard error and 95% interval, its TPR at
    FPR `fpr` (None where the non-members are too few to resolve it) and its class sizes."""

    auc: float
    se: float
    low: float
    high: float
    n_members: int
    n_nonmembers: int
    fpr: float
    tpr: float | None

    @property
    def min_resolvable_fpr(self) -> float:
        """The smallest FPR one false positive can show: 1 / non-members."""
        return 1.0 / self.n_nonmembers


def checked(scores: Sequence[float], name: str) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise RocInputError(f"a ROC needs at least one {name} score, got none")
    if not np.isfinite(values).all():
        raise RocInputError(f"a {name} score is not finite: score every sample first")
    return values


def roc_auc(members: Sequence[float], nonmembers: Sequence[float]) -> float:
    """P(member score > non-member score) + P(tie) / 2, from average ranks (Mann-Whitney)."""
    pos, neg = checked(members, "member"), checked(nonmembers, "non-member")
    values, inverse, counts = np.unique(
        np.concatenate([pos, neg]), return_inverse=True, return_counts=True
    )
    upper = np.cumsum(counts)  # 1-based rank of each distinct value's last occurrence
    average = upper - (counts - 1) / 2.0
    rank_sum = float(average[inverse[: pos.size]].sum())
    return (rank_sum - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size)


def roc_points(
    members: Sequence[float], nonmembers: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) of the full ROC: (0, 0), then one point for each distinct score as the
    threshold (a sample counts as a member when its score is >= it), descending to (1, 1)."""
    pos, neg = checked(members, "member"), checked(nonmembers, "non-member")
    thresholds = np.unique(np.concatenate([pos, neg]))[::-1]
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    above_pos = pos.size - np.searchsorted(pos_sorted, thresholds, side="left")
    above_neg = neg.size - np.searchsorted(neg_sorted, thresholds, side="left")
    fpr = np.concatenate([[0.0], above_neg / neg.size])
    tpr = np.concatenate([[0.0], above_pos / pos.size])
    return fpr, tpr


def resolvable(fpr: float, n_nonmembers: int) -> bool:
    """Whether FPR `fpr` can be told from 0: at least 1 / fpr non-members (float slack aside)."""
    return n_nonmembers * fpr >= 1.0 - 1e-9


def tpr_at_fpr(members: Sequence[float], nonmembers: Sequence[float], fpr: float) -> float | None:
    """The largest TPR of the full ROC at FPR <= `fpr`; None when fewer than 1 / fpr
    non-members make that FPR unresolvable (see RocSummary.min_resolvable_fpr)."""
    if not 0.0 < fpr < 1.0:
        raise RocInputError(f"an FPR for TPR at low FPR lies in (0, 1), got {fpr}")
    if not resolvable(fpr, len(nonmembers)):
        return None
    fprs, tprs = roc_points(members, nonmembers)
    return float(tprs[fprs <= fpr + 1e-12].max())


def hanley_mcneil_se(auc: float, n_members: int, n_nonmembers: int) -> float:
    """Hanley and McNeil (1982): SE^2 = (A(1-A) + (m-1)(Q1-A^2) + (n-1)(Q2-A^2)) / (m n) with
    Q1 = A/(2-A), Q2 = 2A^2/(1+A), m members (positives), n non-members (negatives)."""
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    square = auc * auc
    variance = (
        auc * (1.0 - auc) + (n_members - 1) * (q1 - square) + (n_nonmembers - 1) * (q2 - square)
    ) / (n_members * n_nonmembers)
    return math.sqrt(max(variance, 0.0))


def summarize(
    members: Sequence[float], nonmembers: Sequence[float], fpr: float = 0.01
) -> RocSummary:
    """AUC, its SE and 95% interval (AUC +- 1.96 SE, clipped to [0, 1]), TPR at `fpr`."""
    auc = roc_auc(members, nonmembers)
    se = hanley_mcneil_se(auc, len(members), len(nonmembers))
    low, high = max(0.0, auc - Z_95 * se), min(1.0, auc + Z_95 * se)
    tpr = tpr_at_fpr(members, nonmembers, fpr)
    return RocSummary(auc, se, low, high, len(members), len(nonmembers), fpr, tpr)


def privleak(auc_variant: float, auc_retain: float) -> float:
    """MUSE's PrivLeak: (AUC_variant - AUC_retain) / AUC_retain; 0 = the retain model's level,
    positive = more member signal left than a model that never saw the data."""
    if auc_retain <= 0.0:
        raise RocInputError(f"privleak needs a retain-model AUC above 0, got {auc_retain}")
    return (auc_variant - auc_retain) / auc_retain


def over_unlearning_warning(roc: RocSummary, what: str) -> str | None:
    """A warning when the AUC lies below 0.5 - max(0.1, 3 SE): members score *less* like
    members than non-members do, which an attacker can detect as well (over-unlearning)."""
    bound = 0.5 - max(0.1, 3.0 * roc.se)
    if roc.auc >= bound:
        return None
    return (
        f"{what}: AUC {roc.auc:.3f} is below {bound:.3f} (0.5 - max(0.1, 3 SE)): the members "
        "now look less like members than the holdout does, so the unlearning is detectable"
    )


def holdout_warning(roc: RocSummary, what: str) -> str | None:
    """A warning when the retain model's forget-vs-holdout AUC leaves 0.5 +- 3 SE: a model that
    never saw the forget set tells it from the holdout, so the holdout does not represent it."""
    if abs(roc.auc - 0.5) <= 3.0 * roc.se:
        return None
    return (
        f"{what}: the retain model's AUC {roc.auc:.3f} lies outside 0.5 +- {3.0 * roc.se:.3f} "
        "(3 SE): the holdout is not representative of the forget set"
    )
