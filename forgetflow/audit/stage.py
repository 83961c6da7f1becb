"""The audit stage's entry: `run_audit` attacks every variant (the given ones and those the
stresses make, variants.py), then judges them per family: privleak against the family's retain
model, what relearning brings back, the verdicts per sample and per model, every figure also on
half B of the forget set when a relearning stress runs. docs/metrics.md gives every formula."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from forgetflow.audit.attacks import AuditData, Findings, attack
from forgetflow.audit.carlini import carlini_figures, sample_figures, sample_flags
from forgetflow.audit.config import AuditConfig
from forgetflow.audit.extraction import (
    extraction_figures,
    remainder_extracted,
    top_bucket_figures,
)
from forgetflow.audit.facts import fact_figures, fact_flags
from forgetflow.audit.leaks import field_leak_figures, leaking_samples
from forgetflow.audit.membership import MembershipSettings, membership_figures, privleak_figures
from forgetflow.audit.roc import RocSummary, summarize
from forgetflow.audit.stresses.registry import read_record
from forgetflow.audit.stresses.relearn import comes_back, split_samples
from forgetflow.audit.variants import (
    HALF_B,
    MAIN,
    Attacked,
    family_baseline,
    relearn_context,
    relearns,
    stress_root,
    stressed_variants,
)
from forgetflow.audit.verdicts import (
    DESIGNATED,
    FACTS_SCHEMA,
    ModelVerdict,
    VerdictSettings,
    membership_inputs,
    verdicts,
)
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.models.io import load_model
from forgetflow.records import Figure, ModelVariant
from forgetflow.unlearning.config import TrainingConfig


@dataclass(frozen=True)
class AuditRun:
    """What the audit runs on: the given variants, the one the stresses apply to (`subject`:
    after, or the CLI's model), a scratch folder (stressed variants, servers' logs), the outlier
    rule of the verdicts, the seed, relearning's training settings and the reference model of
    the `reference` attack (None: the retain model where there is one)."""

    variants: Sequence[ModelVariant]
    subject: str
    work_dir: Path
    outlier_rule: ThresholdRule
    seed: int = 0
    training: TrainingConfig | None = None
    reference_dir: Path | None = None


@dataclass(frozen=True)
class AuditResult:
    """The stage's tables (None where nothing ran), Figures, warnings, each variant's model
    verdict, the stressed variants' records and which variants were attacked."""

    extraction: pa.Table
    carlini: pa.Table | None
    leaks: pa.Table | None
    facts: pa.Table | None
    membership: pa.Table | None
    verdicts: pa.Table | None
    figures: list[Figure]
    warnings: list[str]
    models: dict[str, ModelVerdict]
    records: dict[str, dict] = field(default_factory=dict)
    attacked: tuple[Attacked, ...] = ()


def run_audit(data: AuditData, run: AuditRun, settings: AuditConfig) -> AuditResult:
    """Every attack on every variant, judged (see the module)."""
    context = relearn_context(data.forget, run.training, run.seed, settings.relearn_lr)
    by_label = {v.label: v for v in run.variants}
    reference_dir = run.reference_dir or getattr(by_label.get("retain_model"), "model_dir", None)
    reference = load_model(reference_dir)[0] if reference_dir is not None else None
    with stress_root(run.work_dir) as root:
        targets = stressed_variants(run.variants, run.subject, settings.stresses, data.forget,
                                    Path(root), context)  # fmt: skip
        records = {t.label: stress_record(t.variant.model_dir) for t in targets
                   if t.variant.parent is not None}  # fmt: skip
        found = [attack(t, data, settings, run.work_dir / "logs", reference, run.seed)
                 for t in targets]  # fmt: skip
    half_b = {s.sample_id for s in split_samples(data.forget, run.seed)[1]}
    halves = half_b if relearns(targets) else set()
    windows = [s for s in (*data.forget, *data.retain, *data.holdout) if s.is_window]
    documents = {s.sample_id: s.source_id for s in windows}
    return judged(targets, found, halves, run.outlier_rule, records, documents)


def stress_record(model_dir: Path) -> dict:
    """The record a stress wrote beside its model (relearn.json or quantization.json)."""
    for name in ("relearn.json", "quantization.json"):
        held = read_record(model_dir / name)
        if held:
            return held
    return {}


def concat(tables: Sequence[pa.Table | None]) -> pa.Table | None:
    present = [t for t in tables if t is not None]
    return pa.concat_tables(present) if present else None


def judged(
    targets: Sequence[Attacked],
    found: Sequence[Findings],
    half_b: set[str],
    rule: ThresholdRule,
    records: dict[str, dict],
    documents: Mapping[str, str],
) -> AuditResult:
    """The findings of every variant put together: figures (half B too; extraction also per
    document where samples are windows of one, `documents`: window id -> document id; membership
    also per exposure bucket), privleak, what comes back after relearning, verdicts."""
    extraction = pa.concat_tables([f.extraction for f in found])
    carlini, leaks = concat([f.carlini for f in found]), concat([f.leaks for f in found])
    facts = concat([f.facts for f in found])
    mia = concat([f.membership for f in found])
    relearned = {t.label for t in targets if t.family != MAIN}
    view = with_half_b(extraction, half_b, relearned, column="model")
    figures = extraction_figures(view)
    figures += top_bucket_figures(view, figures, ("forget", "retain"))
    if carlini is not None:
        seen = with_half_b(carlini, half_b, relearned)
        figures += carlini_figures(seen) + sample_figures(seen, documents)
    if leaks is not None:
        figures += field_leak_figures(with_half_b(leaks, half_b, relearned))
    if facts is not None:
        figures += fact_figures(with_half_b(facts, half_b, relearned))
    rocs: dict[tuple[str, str, str], RocSummary] = {}
    warnings: list[str] = []
    for target, findings in zip(targets, found, strict=True):
        figures += findings.figures
        warnings += findings.warnings
        rocs |= {(target.label, group, a): roc for (group, a), roc in findings.rocs.items()}
    if mia is not None and half_b:
        figures += half_b_membership(mia, half_b, targets, rocs)
    if mia is not None:
        figures += bucket_membership(mia, rocs)
    figures += family_privleak(targets, rocs)
    figures += relearned_back(targets, figures)
    verdict_tables, models = [], {}
    for family in dict.fromkeys(t.family for t in targets):
        members = [t for t in targets if t.family == family]
        result = family_verdicts(members, extraction, (carlini, facts), leaks, mia, rule)
        if result is not None:
            verdict_tables.append(result.table)
            figures += result.figures
            models |= result.models
    return AuditResult(extraction, carlini, leaks, facts, mia, concat(verdict_tables), figures,
                       warnings, models, records, tuple(targets))  # fmt: skip


def with_half_b(
    table: pa.Table, half_b: set[str], relearned: set[str], column: str = "variant"
) -> pa.Table:
    """The table as its figures read it: the forget rows of relearned variants (half B only)
    under the split HALF_B, and for every other variant its forget rows of half B copied under
    HALF_B beside the originals; unchanged when no relearning ran."""
    if not half_b:
        return table
    forget = pc.equal(table["split"], "forget")
    in_half_b = pc.is_in(table["sample_id"], pa.array(sorted(half_b)))
    stressed = pc.is_in(table[column], pa.array(sorted(relearned), pa.string()))
    moved = table.filter(pc.and_(forget, in_half_b))
    moved = moved.set_column(moved.schema.get_field_index("split"), "split",
                             pa.array([HALF_B] * moved.num_rows, pa.string()))  # fmt: skip
    kept = table.filter(pc.invert(pc.and_(forget, stressed)))
    return pa.concat_tables([kept, moved])


def half_b_membership(
    mia: pa.Table,
    half_b: set[str],
    targets: Sequence[Attacked],
    rocs: dict[tuple[str, str, str], RocSummary],
) -> list[Figure]:
    """The main family's membership figures on half B against the holdout (the relearned
    variants are attacked on half B already); their ROC summaries are added to `rocs`."""
    out: list[Figure] = []
    for target in [t for t in targets if t.family == MAIN]:
        rows = group_rows(mia, target.label, "forget_vs_holdout")
        out += subset_membership(rows, f"{HALF_B}_vs_holdout",
                                 lambda r: r["sample_id"] in half_b, rocs)  # fmt: skip
    return out


def bucket_membership(mia: pa.Table, rocs: dict[tuple[str, str, str], RocSummary]) -> list[Figure]:
    """Every membership figure also per exposure bucket of the members (where the scenario knows
    exposures), against all of the holdout: group `<members>_r<r>_vs_holdout`, e.g.
    forget_r8_vs_holdout."""
    out: list[Figure] = []
    pairs = zip(mia["variant"].to_pylist(), mia["group"].to_pylist(), strict=True)
    for variant, group in dict.fromkeys(pairs):
        rows = group_rows(mia, variant, group)
        split = group.removesuffix("_vs_holdout")
        exposures = {row["repetitions"] for row in rows if row["member"]}
        for r in sorted(r for r in exposures if r >= 0):
            out += subset_membership(rows, f"{split}_r{r}_vs_holdout",
                                     lambda row, r=r: row["repetitions"] == r, rocs)  # fmt: skip
    return out


def group_rows(mia: pa.Table, variant: str, group: str) -> list[dict]:
    """The membership rows of one variant and group (members and non-members, every attack)."""
    mine = pc.and_(pc.equal(mia["variant"], variant), pc.equal(mia["group"], group))
    return mia.filter(mine).to_pylist()


def subset_membership(
    rows: list[dict],
    named: str,
    keep: Callable[[dict], bool],
    rocs: dict[tuple[str, str, str], RocSummary],
) -> list[Figure]:
    """The membership figures of the members among `rows` (one variant and group, `group_rows`)
    that `keep` selects, against all of its non-members, as group `named` (at the group's FPR);
    their ROC summaries are added to `rocs`."""
    if not rows:
        return []
    variant, group = rows[0]["variant"], rows[0]["group"]
    found: dict[str, RocSummary] = {}
    for name in dict.fromkeys(r["attack"] for r in rows):
        members = [r["score"] for r in rows if r["attack"] == name and r["member"] and keep(r)]
        nonmembers = [r["score"] for r in rows if r["attack"] == name and not r["member"]]
        if members and nonmembers:
            found[name] = summarize(members, nonmembers, rocs[(variant, group, name)].fpr)
    rocs |= {(variant, named, name): roc for name, roc in found.items()}
    if not found:
        return []
    fpr = next(iter(found.values())).fpr
    return membership_figures(found, MembershipSettings(variant, named, fpr=fpr))


def family_privleak(
    targets: Sequence[Attacked], rocs: dict[tuple[str, str, str], RocSummary]
) -> list[Figure]:
    """privleak of each variant against its family's retain model, on the family's group."""
    out: list[Figure] = []
    for target in targets:
        baseline = family_baseline(target.family)
        if target.label == baseline:
            continue
        group = target.forget_group
        mine = {a: r for (v, g, a), r in rocs.items() if v == target.label and g == group}
        theirs = {a: r for (v, g, a), r in rocs.items() if v == baseline and g == group}
        if mine and theirs:
            out += privleak_figures(mine, theirs, MembershipSettings(variant=target.label,
                                                                     group=group))  # fmt: skip
    return out


def relearned_back(targets: Sequence[Attacked], figures: Sequence[Figure]) -> list[Figure]:
    """What each relearning brings back: the relearned subject's half-B figures minus those of
    the retain model relearned the same way."""
    out: list[Figure] = []
    for target in [t for t in targets if t.family != MAIN and not t.is_retain]:
        control = family_baseline(target.family)
        mine = [f for f in figures if f.variant == target.label and f.group.startswith(HALF_B)]
        theirs = [f for f in figures if f.variant == control and f.group.startswith(HALF_B)]
        out += comes_back(mine, theirs)
    return out


def family_verdicts(
    members: Sequence[Attacked],
    extraction: pa.Table,
    extracted: tuple[pa.Table | None, pa.Table | None],
    leaks: pa.Table | None,
    mia: pa.Table | None,
    rule: ThresholdRule,
):
    """The verdicts of one family's variants on their forget samples, against the family's
    retain model; None when the designated attack did not run on every one of them.
    `extracted`: the Carlini and the facts tables (a sample is extractable when either says its
    suffix or its answer came out, greedily or sampled)."""
    if mia is None:
        return None
    labels = [t.label for t in members]
    group = members[0].forget_group
    table = mia.filter(pc.and_(pc.equal(mia["group"], group),
                               pc.is_in(mia["variant"], pa.array(labels))))  # fmt: skip
    ran = {v: set(table.filter(pc.equal(table["variant"], v))["attack"].to_pylist())
           for v in labels}  # fmt: skip
    if not all(ran[v] & set(DESIGNATED) for v in labels):
        return None
    inputs = membership_inputs(table)
    carlini, facts = extracted
    flags = sample_flags(carlini) if carlini is not None else {}
    answered = fact_flags(facts) if facts is not None else {}
    leaking = leaking_samples(leaks) if leaks is not None else set()
    forget = extraction.filter(pc.equal(extraction["split"], "forget")).to_pylist()
    old = {(r["sample_id"], r["model"]): r for r in forget}
    rows = []
    for target in members:
        for sample in target.forget:
            key = (sample.sample_id, target.label)
            flag, fact = flags.get(key, {}), answered.get(key, {})
            came_out = (remainder_extracted(old[key], sample), flag.get("greedy"),
                        flag.get("leaked"), fact.get("greedy"), fact.get("leaked"))  # fmt: skip
            rows.append({"sample_id": sample.sample_id, "variant": target.label,
                         "extractable": any(came_out),
                         "leaks_fields": bool(old[key]["leaks_fields"] or key in leaking),
                         "score": inputs.scores[key]})  # fmt: skip
    facts = pa.Table.from_pylist(rows, schema=FACTS_SCHEMA)
    family = members[0].family
    settings = VerdictSettings(rule=rule, group="forget" if family == MAIN else HALF_B,
                               retain_variant=family_baseline(family))  # fmt: skip
    return verdicts(facts, inputs.holdout, settings)
