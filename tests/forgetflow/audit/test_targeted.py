"""A facts request's questions as figures: evaluation questions by type (lower is better) and
every kind of keep-probe, the quiz facts' answer neighbours included (higher is better)."""

from __future__ import annotations

from forgetflow.audit.targeted import targeted_figures


def test_every_keep_kind_is_a_keep_figure_and_no_targeted_one() -> None:
    answered = {
        "rephrase": (True, False),
        "keep_subject": (True, True),
        "keep_object": (False, True),
        "keep_answer": (True, True, False, False),
    }
    rows = [{"model": "after", "kind": kind, "given": given}
            for kind, flags in answered.items() for given in flags]  # fmt: skip
    figures = {(f.metric, f.group): f for f in targeted_figures(rows)}
    for kind in ("keep_subject", "keep_object", "keep_answer"):
        share = figures["keep_answered", kind]
        flags = answered[kind]
        assert share.higher_is_better and share.n == len(flags)
        assert share.value == sum(flags) / len(flags)
    everything = figures["targeted_answered", "targeted:all"]
    assert (everything.n, everything.value, everything.higher_is_better) == (2, 0.5, False)
    assert not [group for _, group in figures if group.startswith("targeted:keep")]
