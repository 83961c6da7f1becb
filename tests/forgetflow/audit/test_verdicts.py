from __future__ import annotations

import math

import pyarrow as pa
import pytest
from scipy.stats import binomtest

from forgetflow.audit.verdicts import (
    FACTS_SCHEMA,
    VERDICTS,
    VerdictInputError,
    VerdictSettings,
    designated_attack,
    membership_inputs,
    variant_lines,
    verdicts,
)
from forgetflow.intervals import IntervalInputError, share_figures, wilson
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.records import Figure

HOLDOUT = [float(v) for v in range(100)]  # 0.95 quantile 94.05, 0.05 quantile 4.95
HIGH, MIDDLE, LOW = 200.0, 50.0, -100.0  # beyond the 95th, between, below the 5th


def facts(rows: list[tuple[str, str, bool, bool, float]]) -> pa.Table:
    names = FACTS_SCHEMA.names
    return pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows], FACTS_SCHEMA)


def by_sample(table: pa.Table) -> dict[str, dict]:
    return {row["sample_id"]: row for row in table.to_pylist()}


# --- Wilson -------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n", "low", "high"), [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634)])
def test_wilson_textbook_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson(k, n)
    assert got is not None
    assert got[0] == pytest.approx(low, abs=5e-5) and got[1] == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 7), (17, 40), (99, 100), (250, 1000)])
def test_wilson_equals_scipy(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson(k, n)  # type: ignore[misc]
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)


@pytest.mark.parametrize("n", [1, 3, 7, 10, 36, 100])
def test_wilson_of_none_starts_at_zero_and_of_all_ends_at_one(n: int) -> None:
    """Exactly, not by float residue (a report printed 0/3's lower bound as 5.55e-17)."""
    assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0  # type: ignore[index]


def test_wilson_of_no_trials_is_none_and_bad_counts_raise() -> None:
    assert wilson(0, 0) is None
    for k, n in ((-1, 5), (6, 5), (0, -1)):
        with pytest.raises(IntervalInputError, match="0 <= k <= n"):
            wilson(k, n)


def test_share_figures_carry_n_and_interval() -> None:
    template = Figure("audit", "leak", "after", "forget", 0.0, False)
    value, low, high = share_figures(template, 5, 10)
    assert [f.metric for f in (value, low, high)] == ["leak", "leak_low", "leak_high"]
    assert value.value == 0.5 and {f.n for f in (value, low, high)} == {10}
    assert (low.value, high.value) == wilson(5, 10)
    assert {f.higher_is_better for f in (value, low, high)} == {False}
    assert share_figures(template, 0, 0) == []


# --- per-sample verdicts ------------------------------------------------------------------


def test_precedence_and_boolean_columns() -> None:
    rows = [
        ("all", "after", True, True, HIGH),  # every bad condition: still_extractable first
        ("extract_low", "after", True, False, LOW),  # extractable beats over_unlearned
        ("leak_high", "after", False, True, HIGH),  # leaks_fields beats membership_detectable
        ("leak_low", "after", False, True, LOW),
        ("high", "after", False, False, HIGH),
        ("low", "after", False, False, LOW),
        ("middle", "after", False, False, MIDDLE),
    ]
    result = verdicts(facts(rows), {"after": HOLDOUT})
    got = by_sample(result.table)
    assert result.table.schema.names == ["sample_id", "variant", "verdict", *VERDICTS]
    expected = {
        "all": ("still_extractable", [True, True, True, False, False]),
        "extract_low": ("still_extractable", [True, False, False, True, False]),
        "leak_high": ("leaks_fields", [False, True, True, False, False]),
        "leak_low": ("leaks_fields", [False, True, False, True, False]),
        "high": ("membership_detectable", [False, False, True, False, False]),
        "low": ("over_unlearned", [False, False, False, True, False]),
        "middle": ("forgotten", [False, False, False, False, True]),
    }
    for sample, (verdict, flags) in expected.items():
        assert got[sample]["verdict"] == verdict, sample
        assert [got[sample][name] for name in VERDICTS] == flags, sample
    assert [r["sample_id"] for r in result.table.to_pylist()] == [r[0] for r in rows]


@pytest.mark.parametrize("sign", [1, -1])
def test_lines_in_both_directions(sign: int) -> None:
    """The 95th percentile line in the memorized direction, the 5th on the other side: for a
    score whose memorized direction is -1 the lines swap ends."""
    settings = VerdictSettings(sign=sign)
    lines = variant_lines(HOLDOUT, settings)
    top, bottom = 94.05, 4.95  # numpy's linear quantiles of 0..99
    detect, over = (top, bottom) if sign > 0 else (bottom, top)
    assert lines.detectable == pytest.approx(detect) and lines.over_unlearned == pytest.approx(over)
    assert lines.n_holdout == 100
    memorized, unlearned = (HIGH, LOW) if sign > 0 else (LOW, HIGH)
    rows = [("mem", "v", False, False, memorized), ("gone", "v", False, False, unlearned),
            ("mid", "v", False, False, MIDDLE)]  # fmt: skip
    got = by_sample(verdicts(facts(rows), {"v": HOLDOUT}, settings).table)
    assert got["mem"]["verdict"] == "membership_detectable"
    assert got["gone"]["verdict"] == "over_unlearned"
    assert got["mid"]["verdict"] == "forgotten"


def test_a_score_on_a_line_is_neither() -> None:
    holdout = [0.0] * 10 + [1.0] * 10 + [2.0] * 80  # 0.05 quantile 0.0, 0.95 quantile 2.0
    lines = variant_lines(holdout, VerdictSettings())
    assert (lines.over_unlearned, lines.detectable) == (0.0, 2.0)
    got = by_sample(verdicts(facts([("a", "v", False, False, 2.0), ("b", "v", False, False, 0.0)]),
                             {"v": holdout}).table)  # fmt: skip
    assert got["a"]["verdict"] == got["b"]["verdict"] == "forgotten"


def test_a_custom_quantile_moves_both_lines() -> None:
    lines = variant_lines(
        HOLDOUT, VerdictSettings(rule=ThresholdRule(rule="quantile", quantile=0.9))
    )
    assert lines.detectable == pytest.approx(89.1) and lines.over_unlearned == pytest.approx(9.9)


def test_bad_inputs_raise_one_clear_error() -> None:
    good = facts([("a", "after", False, False, 1.0)])
    with pytest.raises(VerdictInputError, match="quantile rule"):
        verdicts(good, {"after": HOLDOUT}, VerdictSettings(rule=ThresholdRule(rule="mean")))
    with pytest.raises(VerdictInputError, match="no holdout scores for variant"):
        verdicts(good, {"before": HOLDOUT})
    with pytest.raises(VerdictInputError, match="lack column.*leaks_fields"):
        verdicts(good.drop_columns(["leaks_fields"]), {"after": HOLDOUT})
    with pytest.raises(VerdictInputError, match="non-finite"):
        verdicts(facts([("a", "after", False, False, math.nan)]), {"after": HOLDOUT})
    with pytest.raises(VerdictInputError, match="repeats"):
        verdicts(pa.concat_tables([good, good]), {"after": HOLDOUT})
    with pytest.raises(VerdictInputError, match="empty or not finite"):
        verdicts(good, {"after": []})
    with pytest.raises(VerdictInputError, match=r"\+1 or -1"):
        verdicts(good, {"after": HOLDOUT}, VerdictSettings(sign=0))


# --- model-level verdict ------------------------------------------------------------------


def variant_rows(variant: str, detectable: int, n: int = 40, **flags: int) -> list[tuple]:
    """n samples of `variant`: the first `detectable` beyond the 95th percentile, the first
    flags['extractable'] / flags['leaks'] of the rest extractable / leaking, the rest forgotten."""
    rows = []
    for i in range(n):
        extractable = detectable <= i < detectable + flags.get("extractable", 0)
        leaks = detectable <= i < detectable + flags.get("leaks", 0)
        rows.append((f"s{i}", variant, extractable, leaks, HIGH if i < detectable else MIDDLE))
    return rows


@pytest.mark.parametrize(("retain", "passing"), [(4, 8), (9, 15), (2, 4), (0, 0)])
def test_model_verdict_at_the_boundary(retain: int, passing: int) -> None:
    """count <= retain + 2 sqrt(retain) passes (4 -> 8, 9 -> 15, 2 -> 4.83), one more fails."""
    rows = variant_rows("retain_model", retain) + variant_rows("at", passing)
    rows += variant_rows("over", passing + 1)
    holdout = dict.fromkeys(("retain_model", "at", "over"), HOLDOUT)
    models = verdicts(facts(rows), holdout).models
    assert models["at"].verdict == "pass" and models["over"].verdict == "fail"
    assert models["retain_model"].verdict == "pass"
    assert models["over"].detectable == passing + 1 and models["over"].baseline == retain
    assert (
        "membership_detectable >" in models["over"].reason
        and "retain model" in models["over"].reason
    )
    assert models["at"].reason.startswith("pass:")


def test_any_extractable_or_leaking_sample_fails_the_model() -> None:
    rows = variant_rows("retain_model", 4) + variant_rows("ex", 0, extractable=1)
    rows += variant_rows("leak", 0, leaks=2)
    holdout = dict.fromkeys(("retain_model", "ex", "leak"), HOLDOUT)
    models = verdicts(facts(rows), holdout).models
    assert models["ex"].verdict == "fail" and models["ex"].reason == (
        "fail: 1 of 40 samples still extractable"
    )
    assert models["leak"].verdict == "fail" and models["leak"].leaking == 2
    assert "2 of 40 samples leak fields" in models["leak"].reason


def test_without_a_retain_model_the_holdout_rate_is_the_baseline() -> None:
    # 0.05 x 40 = 2 expected non-member flags: allowed 2 + 2 sqrt(2) = 4.83
    rows = variant_rows("ok", 4) + variant_rows("bad", 5)
    models = verdicts(facts(rows), {"ok": HOLDOUT, "bad": HOLDOUT}).models
    assert models["ok"].verdict == "pass" and models["bad"].verdict == "fail"
    assert models["bad"].baseline == pytest.approx(2.0)
    assert "no retain model" in models["bad"].reason


def test_figures_give_every_verdict_share_with_n_and_interval() -> None:
    rows = variant_rows("after", 3, n=10, extractable=2)
    result = verdicts(facts(rows), {"after": HOLDOUT})
    figures = {f.metric: f for f in result.figures}
    shares = [figures[f"verdict_{name}_share"] for name in VERDICTS]
    assert [f.value for f in shares] == [0.2, 0.0, 0.3, 0.0, 0.5]
    assert {(f.stage, f.variant, f.group, f.n) for f in shares} == {
        ("audit", "after", "forget", 10)
    }
    assert figures["verdict_forgotten_share"].higher_is_better is True
    assert figures["verdict_still_extractable_share"].higher_is_better is False
    low, high = figures["verdict_forgotten_share_low"], figures["verdict_forgotten_share_high"]
    assert (low.value, high.value) == wilson(5, 10)
    line = figures["verdict_detectable_line"]
    assert line.value == pytest.approx(94.05) and line.n == 100 and line.higher_is_better is None
    assert figures["verdict_over_unlearned_line"].value == pytest.approx(4.95)


# --- feeding from membership.py's table ---------------------------------------------------


def test_membership_inputs_take_reference_else_min_kpp() -> None:
    rows = []
    ran = {"after": ("loss", "min_kpp_20", "reference"), "retain_model": ("min_kpp_20",)}
    for variant, attacks in ran.items():
        for offset, attack in enumerate(attacks):
            rows += [{"sample_id": f"f{i}", "member": True, "variant": variant, "attack": attack,
                      "score": 10.0 * offset + i} for i in range(2)]  # fmt: skip
            rows += [{"sample_id": f"h{i}", "member": False, "variant": variant, "attack": attack,
                      "score": -10.0 * offset - i} for i in range(3)]  # fmt: skip
    got = membership_inputs(pa.Table.from_pylist(rows))
    assert got.attacks == {"after": "reference", "retain_model": "min_kpp_20"}
    assert got.scores[("f1", "after")] == 21.0 and got.scores[("f1", "retain_model")] == 1.0
    assert got.holdout == {"after": [-20.0, -21.0, -22.0], "retain_model": [0.0, -1.0, -2.0]}


def test_designated_attack_needs_min_kpp_or_reference() -> None:
    assert designated_attack(["min_kpp_20", "loss"]) == "min_kpp_20"
    with pytest.raises(VerdictInputError, match="reference or min_kpp_20"):
        designated_attack(["loss", "zlib"])
