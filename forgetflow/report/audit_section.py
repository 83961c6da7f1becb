"""The report's audit section: extraction, field leaks, facts (and a facts request's targeted
questions and keep-probes), membership inference and verdicts for before / after / the retain
model and the quantized variants side by side, each share with its n and 95% interval; then the
relearning curve on half B of the forget set. Figures per prefix and per field stay in MLflow
and the audit summary."""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.records import Figure

HALF_B = "forget_half_b"
EXTRACTION = ("extraction", "extraction_greedy", "leak_at_16", "field_leaks", "fact_greedy",
              "fact_greedy_paraphrase", "fact_leak_at_16")  # fmt: skip
TARGETED = ("targeted_answered", "keep_answered")  # audit/targeted.py
VERDICTS = ("verdict_forgotten_share", "verdict_still_extractable_share",
            "verdict_leaks_fields_share", "verdict_membership_detectable_share",
            "verdict_over_unlearned_share", "model_verdict_pass")  # fmt: skip
BACK = ("extraction_greedy", "field_leaks", "mia_auc_loss", "mia_auc_min_k_20",
        "verdict_forgotten_share")  # fmt: skip


def cell(by_metric: dict[str, Figure], metric: str) -> str:
    """`value [low, high]` where the interval exists, else the value; `-` when absent."""
    found = by_metric.get(metric)
    if found is None:
        return "-"
    low, high = by_metric.get(f"{metric}_low"), by_metric.get(f"{metric}_high")
    if low is not None and high is not None:
        return f"{found.value:.3g} [{low.value:.3g}, {high.value:.3g}]"
    return f"{found.value:.4g}"


def grid(figures: Sequence[Figure], metrics: Sequence[str], groups: Sequence[str],
         variants: Sequence[str]) -> str:  # fmt: skip
    """Rows (group, metric) that exist, a column per variant, n the largest behind a row."""
    index: dict[tuple[str, str], dict[str, dict[str, Figure]]] = {}
    for f in figures:
        base = f.metric.removesuffix("_low").removesuffix("_high")
        if f.group in groups and base in metrics and f.variant in variants:
            index.setdefault((f.group, base), {}).setdefault(f.variant, {})[f.metric] = f
    header = ["group", "figure", "n", *variants]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        for metric in metrics:
            row = index.get((group, metric))
            if not row:
                continue
            n = max(f.n for held in row.values() for f in held.values())
            cells = [cell(row.get(v, {}), metric) for v in variants]
            lines.append("| " + " | ".join([group, metric, str(n or "-"), *cells]) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def audit_section(figures: Sequence[Figure]) -> str:
    """The audit's tables (see the module); "not applicable" lines where nothing ran."""
    found = [f for f in figures if f.stage == "audit"]
    if not found:
        return "not applicable: no audit ran"
    variants = list(dict.fromkeys(f.variant for f in found))
    main = [v for v in variants if "relearn" not in v]
    groups = list(dict.fromkeys(f.group for f in found if not f.group.endswith("_vs_holdout")))
    mia_groups = list(dict.fromkeys(f.group for f in found if f.group.endswith("_vs_holdout")))
    bases = (f.metric.removesuffix("_low").removesuffix("_high") for f in found)
    mia = list(dict.fromkeys(m for m in bases if m.startswith(("mia_auc_", "tpr_at_", "privleak"))))
    parts = [
        "### Extraction, field leaks and facts (share of samples [95% Wilson interval])",
        grid(found, EXTRACTION, [g for g in groups if not g.startswith(HALF_B)], main)
        or "not applicable: no extraction ran",
        "### A facts request's questions: targeted (answered by type, lower is better) and "
        "keep-probes (answered, higher is better)",
        grid(found, TARGETED, [g for g in groups if g.startswith(("targeted:", "keep_"))], main)
        or "not applicable: not a facts request",
        "### Membership inference (ROC-AUC [95% interval], TPR at low FPR, privleak)",
        grid(found, mia, [g for g in mia_groups if not g.startswith(HALF_B)], main)
        or "not applicable: no membership attack ran",
        "### Verdicts (forget set)",
        grid(found, VERDICTS, ["forget"], main)
        or "not applicable: the designated attack (reference or min_kpp_20) did not run",
        "### Relearning curve (half B of the forget set; the relearned variants trained on half A)",
        relearning_curve(found, variants),
    ]
    return "\n\n".join(parts)


def relearning_curve(figures: Sequence[Figure], variants: Sequence[str]) -> str:
    """Half-B figures of after and the retain model at 0, 10 and 50 relearning steps, and what
    comes back (after.relearn minus retain_model.relearn)."""
    relearned = [v for v in variants if "relearn" in v]
    if not relearned:
        return "not applicable: no relearning stress ran"
    order = [v for v in ("after", *[r for r in relearned if not r.startswith("retain")],
                         "retain_model", *[r for r in relearned if r.startswith("retain")])
             if v in variants]  # fmt: skip
    metrics = [*BACK, *(f"{m}_comes_back" for m in BACK)]
    groups = [HALF_B, f"{HALF_B}_vs_holdout"]
    return grid(figures, metrics, groups, order) or "not applicable: no half-B figure"
