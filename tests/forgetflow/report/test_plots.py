from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from forgetflow.report.plots import (
    facts_rounds,
    leak_at_k,
    memorization_histograms,
    png_bytes,
    relearning_curve,
    roc_attacks,
    roc_curves,
    stage_seconds,
    training_curves,
    verdict_counts,
)
from forgetflow.schemas import table_schema


def table(kind: str, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=table_schema(kind).schema)


def ledger(values: dict[int, list[float]], metric: str = "ma") -> pa.Table:
    """Forget values per step, plus one holdout row and one other-metric row per step."""
    rows = []
    for step, forget in values.items():
        rows += [{"sample_id": f"f{i}", "split": "forget", "step": step, "metric": metric,
                  "value": v} for i, v in enumerate(forget)]  # fmt: skip
        rows.append({"sample_id": "h0", "split": "holdout", "step": step, "metric": metric,
                     "value": 99.0})  # fmt: skip
        rows.append({"sample_id": "f0", "split": "forget", "step": step, "metric": "loss",
                     "value": -99.0})  # fmt: skip
    return table("ledger", rows)


def training_log(rows: list[tuple[int, str, float]]) -> pa.Table:
    return table("training_log", [{"step": s, "name": n, "value": v} for s, n, v in rows])


def membership(rows: list[tuple[str, bool, float]], attack: str = "min_kpp_20",
               group: str = "forget_vs_holdout") -> pa.Table:  # fmt: skip
    """(variant, member, score) rows of one attack and group."""
    return table("membership", [
        {"sample_id": f"s{i}", "split": "forget" if m else "holdout", "repetitions": 1,
         "member": m, "variant": v, "attack": attack, "score": s, "group": group}
        for i, (v, m, s) in enumerate(rows)])  # fmt: skip


def audit(rows: list[tuple[str, str, str, float]]) -> pa.Table:
    """(split, variant, attack, value) rows."""
    return table("audit_samples", [
        {"sample_id": f"s{i}", "split": sp, "variant": v, "attack": a, "value": x, "detail": ""}
        for i, (sp, v, a, x) in enumerate(rows)])  # fmt: skip


def verdicts(rows: list[tuple[str, str]]) -> pa.Table:
    """(variant, verdict) rows."""
    flags = ("still_extractable", "leaks_fields", "membership_detectable", "over_unlearned",
             "forgotten")  # fmt: skip
    return table("verdicts", [{"sample_id": f"s{i}", "variant": v, "verdict": d,
                               **{f: f == d for f in flags}}
                              for i, (v, d) in enumerate(rows)])  # fmt: skip


def rounds(rows: list[tuple[int, str, bool, str, bool]]) -> pa.Table:
    """(round, target_id, still_answered, falsified, accepted) rows."""
    return table("unstar_rounds", [
        {"round": r, "target_id": t, "question": f"q{i}", "variant": "rephrase",
         "probe_answer": "", "still_answered": s, "falsified": f, "rationale": "",
         "accepted": a, "leak_reason": "" if a or not f else "answer", "question_writer": "t",
         "answer_writer": "t", "rationale_writer": "t"}
        for i, (r, t, s, f, a) in enumerate(rows)])  # fmt: skip


def legend_labels(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def bars(ax: Axes) -> dict[str, BarContainer]:
    return {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}


def check_labelled(fig: Figure) -> None:
    """A title (figure or axes) and labelled axes on every panel that plots something."""
    assert fig.get_suptitle() or all(ax.get_title() for ax in fig.axes)
    for ax in fig.axes:
        assert ax.get_ylabel()
        assert ax.get_xlabel() or ax.get_shared_x_axes().get_siblings(ax) != [ax]


# ---- empty input


def test_every_plot_is_none_without_data() -> None:
    assert memorization_histograms(table("ledger", []), None, None, "ma", 0.5) is None
    assert memorization_histograms(ledger({0: [0.1]}, "loss"), None, None, "ma", None) is None
    assert training_curves(training_log([])) is None
    assert roc_curves(table("membership", [])) is None
    assert roc_curves(membership([("before", True, 0.9)]), attack="loss") is None
    assert leak_at_k(audit([("forget", "before", "mia_loss", 1.0)])) is None
    assert leak_at_k(audit([("retain", "before", "carlini_32_leak_at_4", 1.0)])) is None
    assert relearning_curve([], "MA") is None
    assert verdict_counts(verdicts([])) is None
    assert facts_rounds(rounds([])) is None
    assert stage_seconds([]) is None


# ---- memorization histograms


def step_counts(ax: Axes) -> dict[str, np.ndarray]:
    """Per series label: its step outline's bin heights (the tops between edge pairs)."""
    return {p.get_label(): p.get_xy()[1:-1:2, 1] for p in ax.patches}


def test_histograms_count_the_forget_values_at_each_ledgers_last_step() -> None:
    before = ledger({0: [0.9, 0.8, 0.7, 0.95, 0.6]})
    after = ledger({0: [0.9, 0.8, 0.7, 0.95, 0.6], 10: [0.1, 0.2, 0.15, 0.05, 0.3]})
    retain = ledger({0: [0.2, 0.25, 0.3]})
    fig = memorization_histograms(before, after, retain, "ma", 0.5)
    assert fig is not None
    (ax,) = fig.axes
    counts = step_counts(ax)
    assert {k: v.sum() for k, v in counts.items()} == {"before": 5, "after": 5, "retain model": 3}
    assert len({len(v) for v in counts.values()}) == 1  # shared bins
    low, high = ax.patches[0].get_xy()[:, 0].min(), ax.patches[0].get_xy()[:, 0].max()
    assert low <= 0.05 and high >= 0.95  # the bins hold every value of every series
    (line,) = [ln for ln in ax.lines if ln.get_label() == "outlier threshold"]
    assert list(line.get_xdata()) == [0.5, 0.5]
    assert line.get_linestyle() == "--"
    assert ax.get_xlabel() == "ma" and ax.get_ylabel() == "forget samples"
    assert legend_labels(ax) == ["before", "after", "retain model", "outlier threshold"]


def test_histograms_without_after_retain_or_threshold() -> None:
    fig = memorization_histograms(ledger({0: [1.0, 2.0]}), None, None, "ma", None)
    assert fig is not None
    assert [p.get_label() for p in fig.axes[0].patches] == ["before"]
    assert not fig.axes[0].lines


# ---- training curves


def test_training_curves_panels_and_stop_line() -> None:
    log = training_log([(s, "forget_loss", 1.0 + s) for s in range(0, 10)]
                       + [(s, "forget_ma_mean", 0.9 - s / 20) for s in (0, 5, 9)]
                       + [(s, "guard_loss", 2.0) for s in range(0, 10)]
                       + [(s, "lr", 1e-5) for s in range(0, 10)])  # fmt: skip
    fig = training_curves(log, stopped_by="ma_threshold")
    assert fig is not None
    forget, utility = fig.axes[:2]
    assert (forget.get_title(), utility.get_title()) == ("forget", "utility")
    for ax in (forget, utility):
        (stop,) = [ln for ln in ax.lines if ln.get_label() == "stop: ma_threshold"]
        assert list(stop.get_xdata()) == [9, 9]
    assert "forget_ma_mean" in legend_labels(forget) and "forget_loss" in legend_labels(forget)
    assert "guard_loss" in legend_labels(utility) and "lr" not in legend_labels(utility)
    check_labelled(fig)


def test_training_curves_without_a_guard_say_so() -> None:
    fig = training_curves(training_log([(0, "loss", 1.0), (3, "forget_loss", 2.0)]))
    assert fig is not None
    utility = fig.axes[1]
    assert [t.get_text() for t in utility.texts] == ["no utility guard was measured"]
    assert "last step" in legend_labels(utility)


# ---- ROC


def test_roc_perfect_separation_has_auc_one_and_single_class_variant_is_skipped() -> None:
    rows = [("before", True, s) for s in (0.9, 0.8, 0.7)] + [
        ("before", False, s) for s in (0.1, 0.2, 0.3)] + [
        ("after", True, s) for s in (0.5, 0.6)]  # fmt: skip
    fig = roc_curves(membership(rows))
    assert fig is not None
    full, low = fig.axes
    labels = legend_labels(full)
    assert "before (AUC 1.00)" in labels
    assert not any(label.startswith("after") for label in labels)
    assert low.get_xscale() == "log" and low.get_xlim() == pytest.approx((1e-3, 1.0))
    check_labelled(fig)


def test_roc_auc_of_a_hand_counted_ranking_and_attack_list() -> None:
    # members 0.9, 0.4; non-members 0.5, 0.1: 3 of the 4 pairs ranked right -> AUC 0.75
    rows = [("after", True, 0.9), ("after", True, 0.4), ("after", False, 0.5),
            ("after", False, 0.1)]  # fmt: skip
    both = pa.concat_tables([membership(rows), membership(rows, attack="loss")])
    assert roc_attacks(both) == ["loss", "min_kpp_20"]
    fig = roc_curves(both, attack="loss")
    assert fig is not None
    assert "after (AUC 0.75)" in legend_labels(fig.axes[0])
    assert roc_curves(both, group="retain_vs_holdout") is None


# ---- leak at k


def test_leak_at_k_plots_the_hand_computed_shares() -> None:
    leaked = {1: [1, 0, 0, 0], 4: [1, 1, 0, 0], 16: [1, 1, 1, 0]}  # 1/4, 2/4, 3/4
    rows = [("forget", "before", f"carlini_32_leak_at_{k}", float(v))
            for k, values in leaked.items() for v in values]  # fmt: skip
    rows += [("forget", "after", "carlini_first_line_leak_at_4", v) for v in (0.0, 0.0, 1.0)]
    rows += [("holdout", "before", "carlini_32_leak_at_4", 1.0), ("forget", "before", "mia", 9.0)]
    fig = leak_at_k(audit(rows))
    assert fig is not None
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert list(lines["before, prefix 32"].get_xdata()) == [1, 4, 16]
    assert list(lines["before, prefix 32"].get_ydata()) == [0.25, 0.5, 0.75]
    assert list(lines["after, prefix first_line"].get_ydata()) == pytest.approx([1 / 3])
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0.0, 1.0)
    assert list(ax.get_xticks()) == [1, 4, 16]
    check_labelled(fig)


# ---- relearning


def test_relearning_curve_one_line_per_family_by_steps() -> None:
    points = [("after", 50, 0.4), ("after", 0, 0.1), ("retain_model", 0, 0.05),
              ("after", 10, 0.3), ("retain_model", 50, 0.2)]  # fmt: skip
    fig = relearning_curve(points, "extraction share")
    assert fig is not None
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert list(lines["after"].get_xdata()) == [0, 10, 50]
    assert list(lines["after"].get_ydata()) == [0.1, 0.3, 0.4]
    assert list(lines["retain_model"].get_xdata()) == [0, 50]
    assert ax.get_ylabel() == "extraction share"
    check_labelled(fig)


# ---- verdicts


def test_verdict_bars_sum_to_the_samples_of_each_variant() -> None:
    rows = (
        [("before", "still_extractable")] * 3
        + [("before", "forgotten")]
        + [("after", "forgotten")] * 2
        + [("after", "over_unlearned"), ("after", "new_verdict")]
    )
    fig = verdict_counts(verdicts(rows))
    assert fig is not None
    (ax,) = fig.axes
    found = bars(ax)
    assert set(found) == {"still_extractable", "forgotten", "over_unlearned", "new_verdict"}
    totals = np.sum([[b.get_width() for b in c] for c in found.values()], axis=0)
    assert list(totals) == [4, 4]  # before, after in order of appearance
    assert [t.get_text() for t in ax.get_yticklabels()] == ["before", "after"]
    assert [b.get_width() for b in found["forgotten"]] == [1, 2]
    colours = {label: c.patches[0].get_facecolor() for label, c in found.items()}
    assert len(set(colours.values())) == len(colours)
    alone = verdict_counts(verdicts([("x", "forgotten")]))
    assert alone is not None
    assert bars(alone.axes[0])["forgotten"].patches[0].get_facecolor() == colours["forgotten"]


# ---- facts rounds


def test_facts_rounds_counts_per_target_and_round() -> None:
    rows = [(0, "t1", True, "Paris", True), (0, "t1", True, "Rome", False),
            (0, "t1", True, "", False), (0, "t1", False, "", False),
            (1, "t1", True, "Oslo", True), (1, "t1", False, "", False),
            (0, "t2", True, "Lima", False)]  # fmt: skip
    fig = facts_rounds(rounds(rows))
    assert fig is not None
    t1, t2 = fig.axes
    assert (t1.get_title(), t2.get_title()) == ("target t1", "target t2")

    def heights(ax: Axes) -> dict[str, list[float]]:
        return {label: [b.get_height() for b in c] for label, c in bars(ax).items()}

    assert heights(t1) == {"questions still answered": [3, 1], "anti-samples accepted": [1, 1],
                           "anti-samples rejected": [1, 0]}  # fmt: skip
    assert heights(t2) == {"questions still answered": [1], "anti-samples accepted": [0],
                           "anti-samples rejected": [1]}  # fmt: skip
    check_labelled(fig)


# ---- stages and PNG


def test_stage_seconds_bars_and_total() -> None:
    fig = stage_seconds([("score", 12.5), ("unlearn", 30.0), ("audit", 7.5)])
    assert fig is not None
    (ax,) = fig.axes
    assert [b.get_width() for b in ax.patches] == [12.5, 30.0, 7.5]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["score", "unlearn", "audit"]
    assert "50.0 s" in ax.get_title()
    check_labelled(fig)


def test_png_bytes_is_a_png() -> None:
    fig = stage_seconds([("score", 1.0)])
    assert fig is not None
    assert png_bytes(fig).startswith(b"\x89PNG\r\n\x1a\n")
