"""Stage 4: the audit of every model variant (before, after, the retain model and the variants
the stresses make from after): extraction, field leaks, membership inference, verdicts."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.audit.attacks import AuditData
from forgetflow.audit.config import AuditConfig
from forgetflow.audit.stage import AuditResult, AuditRun, run_audit
from forgetflow.audit.summary import audit_summary, samples_table
from forgetflow.audit.targeted import TARGETED_TEXT, targeted_figures, targeted_rows
from forgetflow.generation.hf import HFBackend
from forgetflow.generation.registry import backend_params
from forgetflow.lm.prompts import question_style
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.models.io import load_model
from forgetflow.paths import resolve_paths
from forgetflow.records import Figure
from forgetflow.redact import redact_fields
from forgetflow.unlearning.config import TrainingConfig
from storage.tracking import RunHandle
from tasks.context import InputRefs, StageContext, StageResult, VariantRef, facts_request
from tasks.reuse import reused_or_run

SUBJECT = "after"  # the variant the stresses apply to and whose verdict is the model's


def audit_work(
    ctx: StageContext,
    run: RunHandle,
    inputs: InputRefs,
    variants: list[VariantRef],
    settings: AuditConfig,
    outlier_rule: ThresholdRule,
    seed: int,
    training: TrainingConfig,
) -> StageResult:
    """The stage's work in its child run `run` (see audit)."""
    generator = settings.generator
    run.log_params({"attack": "greedy_prefix_suffix", "prefix_tokens": settings.prefix_tokens,
                    "variants": ",".join(v.label for v in variants),
                    "mia_attacks": ",".join(settings.mia_attacks or ["all"]),
                    "mia_fpr": settings.mia_fpr, "stresses": ",".join(settings.stresses),
                    "carlini": settings.carlini is not None}
                   | backend_params(generator))  # fmt: skip
    run.set_tags({"backend": generator.name})
    data = AuditData(*(ctx.samples(ref) for ref in (inputs.forget, inputs.retain,
                                                    inputs.holdout)))  # fmt: skip
    work = resolve_paths(ctx.home).home / "work" / ctx.parent_run_id / "audit"
    found = None
    try:
        found = run_audit(data, AuditRun(ctx.variants(variants), SUBJECT, work, outlier_rule,
                                         seed, training), settings)  # fmt: skip
    finally:
        for log in sorted((work / "logs").glob("*/*.log")):  # the vLLM servers' logs
            run.log_file(log, f"logs/{log.parent.name}")
    ref = ctx.store.put_table(found.extraction, "extraction")
    run.log_ref("extraction", ref)
    refs = {"audit_samples": ctx.store.put_table(samples_table(found), "audit_samples")}
    if found.membership is not None:
        refs["membership"] = ctx.store.put_table(found.membership, "membership")
    for warning in found.warnings:
        print(f"warning: {warning}")
    run.log_dict(audit_summary(found, SUBJECT), "audit_summary.json")
    figures = [*found.figures, *judge(ctx, run, found), *targeted(ctx, run, inputs, variants)]
    run.log_figures(figures)
    if found.verdicts is not None:
        refs["verdicts"] = ctx.store.put_table(found.verdicts, "verdicts")
    for role, one in refs.items():
        run.log_ref(role, one)
    notes = tuple(f"model verdict, {variant}: {verdict.reason}"
                  for variant, verdict in found.models.items())  # fmt: skip
    return StageResult(ref, tuple(figures), notes, refs)


@task(name="audit", cache_policy=NO_CACHE)
def audit(
    ctx: StageContext, inputs: InputRefs, variants: list[VariantRef], settings: AuditConfig,
    outlier_rule: ThresholdRule, seed: int, training: TrainingConfig,
) -> StageResult:  # fmt: skip
    parts = {
        "inputs": inputs,
        "variants": variants,
        "settings": settings,
        "outlier_rule": outlier_rule,
        "seed": seed,
        "training": training,
    }
    return reused_or_run(
        ctx,
        "audit",
        parts,
        lambda run: audit_work(ctx, run, inputs, variants, settings, outlier_rule, seed, training),
        lambda result: result.figures,
    )


def judge(ctx: StageContext, run: RunHandle, found: AuditResult) -> list[Figure]:
    """Log each variant's model verdict with its reason;
    `model_verdict_pass` (1 or 0) per variant."""
    if found.verdicts is None:
        print("verdicts: not judged (the designated attack, reference or min_kpp_20, did not run)")
        return []
    reasons = {variant: verdict.reason for variant, verdict in found.models.items()}
    run.log_dict(reasons, "model_verdicts.json")
    for variant, reason in reasons.items():
        print(f"model verdict, {variant}: {reason}")
    return [Figure("audit", "model_verdict_pass", variant, verdict_group(variant, found),
                   float(verdict.verdict == "pass"), True, verdict.n)
            for variant, verdict in found.models.items()]  # fmt: skip


def targeted(
    ctx: StageContext, run: RunHandle, inputs: InputRefs, variants: list[VariantRef]
) -> list[Figure]:
    """A facts request's evaluation questions by variant type and its evaluated keep-probes,
    asked of each main variant (before, after, the targets-retain model); none for sequences."""
    request = facts_request(ctx, inputs)
    if request is None:
        return []
    rows = []
    for variant in ctx.variants(variants):
        model, tokenizer = load_model(variant.model_dir)
        style = question_style(tokenizer)
        rows += targeted_rows(HFBackend(model, tokenizer), request, variant.label, style)
    hidden = [redact_fields(row, TARGETED_TEXT) for row in rows]  # answers may carry PII
    run.log_dict({"rows": hidden}, "targeted.json")
    return targeted_figures(rows)


def verdict_group(variant: str, found: AuditResult) -> str:
    """The group a variant was judged on: forget, or half B for a relearned one."""
    family = next(t.family for t in found.attacked if t.label == variant)
    return "forget" if not family else "forget_half_b"
