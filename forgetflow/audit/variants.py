"""Membership inference over the model variants: forget vs holdout (the audit) and retain vs
holdout (the positive control) on each variant, with the retain model as the reference model and
as the baseline of privleak where the scenario or the user gives one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from forgetflow.audit.membership import MembershipSettings, membership, privleak_figures
from forgetflow.audit.roc import RocSummary
from forgetflow.audit.verdicts import (
    DESIGNATED,
    FACTS_SCHEMA,
    VerdictResult,
    VerdictSettings,
    membership_inputs,
    verdicts,
)
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.models.io import load_model
from forgetflow.records import Figure, ModelVariant, Sample

RETAIN_MODEL = "retain_model"
GROUPS = ("forget_vs_holdout", "retain_vs_holdout")


@dataclass(frozen=True)
class MembershipAudit:
    table: pa.Table  # membership.TABLE_SCHEMA plus `group`
    figures: list[Figure]
    warnings: list[str]


def membership_over_variants(
    variants: Sequence[ModelVariant],
    forget: Sequence[Sample],
    retain: Sequence[Sample],
    holdout: Sequence[Sample],
    attacks: Sequence[str] | None = None,
    fpr: float = 0.01,
    seed: int = 0,
) -> MembershipAudit:
    """Every attack on every variant for both groups. The `reference` attack runs against the
    retain model, only where there is one, never on the retain model itself nor on the retain
    set (which the retain model trained on); privleak compares each variant's forget-vs-holdout
    AUC with the retain model's, and only the retain model's forget-vs-holdout AUC is checked
    for an unrepresentative holdout."""
    retain_variant = next((v for v in variants if v.label == RETAIN_MODEL), None)
    reference = load_model(retain_variant.model_dir)[0] if retain_variant is not None else None
    members = {"forget_vs_holdout": forget, "retain_vs_holdout": retain}
    tables, figures, warnings = [], [], []
    rocs: dict[str, dict[str, RocSummary]] = {}
    for variant in variants:
        model, tokenizer = load_model(variant.model_dir)
        is_retain = variant.label == RETAIN_MODEL
        asked = None if attacks is None else tuple(attacks)
        for group in GROUPS:
            if not members[group]:
                continue
            # the retain model trained on the retain set: no reference for the positive control
            control = group == "retain_vs_holdout"
            chosen = asked
            if chosen is not None and (is_retain or control):
                chosen = tuple(a for a in chosen if a != "reference")
            settings = MembershipSettings(variant=variant.label, group=group, attacks=chosen,
                                          seed=seed, fpr=fpr,
                                          retain_model=is_retain and not control)  # fmt: skip
            result = membership(model, tokenizer, members[group], holdout, settings=settings,
                                reference=None if is_retain or control else reference)  # fmt: skip
            group_column = pa.array([group] * result.table.num_rows, pa.string())
            tables.append(result.table.append_column("group", group_column))
            figures += result.figures
            warnings += result.warnings
            if group == "forget_vs_holdout":
                rocs[variant.label] = result.rocs
    if retain_variant is not None:
        for variant in variants:
            if variant.label != RETAIN_MODEL:
                settings = MembershipSettings(variant=variant.label, group="forget_vs_holdout")
                figures += privleak_figures(rocs[variant.label], rocs[RETAIN_MODEL], settings)
    return MembershipAudit(pa.concat_tables(tables), figures, warnings)


def verdicts_over_variants(
    extraction: pa.Table, found: MembershipAudit, rule: ThresholdRule
) -> VerdictResult | None:
    """Each forget sample's verdict on each variant: still extractable (the greedy attack's
    exact suffix), leaking a field (its completion), membership detectable or over-unlearned
    (the designated attack's score against the holdout's lines under the outlier `rule`); None
    when the designated attack (reference or min_kpp_20) did not run."""
    table = found.table.filter(pc.equal(found.table["group"], "forget_vs_holdout"))
    if not set(DESIGNATED) & set(table["attack"].to_pylist()):
        return None
    inputs = membership_inputs(table)
    forget = extraction.filter(pc.equal(extraction["split"], "forget"))
    rows = [{"sample_id": r["sample_id"], "variant": r["model"], "extractable": r["exact"],
             "leaks_fields": r["leaks_fields"],
             "score": inputs.scores[(r["sample_id"], r["model"])]}
            for r in forget.to_pylist()]  # fmt: skip
    facts = pa.Table.from_pylist(rows, schema=FACTS_SCHEMA)
    return verdicts(facts, inputs.holdout, VerdictSettings(rule=rule))
