"""A sweep's summary (report/sweep.py): means and spreads over seeds, the Pareto front."""

from __future__ import annotations

import pytest

from forgetflow.report.sweep import FORGET, UTILITY, Cell, pareto_front, summarize, summary_table


def cell(method: str, lr: float, seed: int, outliers: float, utility: float) -> Cell:
    return Cell(method, {"unlearning.training.lr": lr}, seed, {FORGET: outliers, UTILITY: utility})


CELLS = [cell("ga", 1e-4, 0, 4.0, 0.5), cell("ga", 1e-4, 1, 6.0, 0.3),  # mean 5, 0.4
         cell("sga", 1e-4, 0, 2.0, 0.5), cell("sga", 1e-4, 1, 2.0, 0.5),  # dominates ga
         cell("ta", 1e-4, 0, 9.0, 0.9)]  # fmt: skip


def test_each_method_and_setting_is_averaged_over_its_seeds() -> None:
    ga, sga, ta = summarize(CELLS)
    assert (ga.method, ga.seeds, ga.settings) == ("ga", (0, 1), "unlearning.training.lr=0.0001")
    assert ga.mean[FORGET] == 5.0 and ga.spread[FORGET] == pytest.approx(2**0.5)
    assert ga.mean[UTILITY] == pytest.approx(0.4) and sga.spread[FORGET] == 0.0
    assert ta.spread[UTILITY] == 0.0  # one seed


def test_the_front_keeps_what_nothing_beats_on_both() -> None:
    assert pareto_front(summarize(CELLS)) == [False, True, True]  # ga is beaten by sga


def test_the_table_has_a_row_per_group_and_marks_the_front() -> None:
    lines = summary_table(summarize(CELLS)).splitlines()
    assert len(lines) == 2 + 3
    assert lines[2].startswith("| ga |") and lines[2].endswith("|  |")
    assert lines[3].endswith("| yes |") and "5 ± 1.4" in lines[2]
