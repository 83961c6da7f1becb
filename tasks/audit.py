"""Stage 4: the audit of every model variant (before, after, the retain model): the greedy
extraction attack and membership inference (forget vs holdout, retain vs holdout)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.audit.config import AuditConfig
from forgetflow.audit.extraction import audit_models, extraction_figures, top_bucket_figures
from forgetflow.audit.variants import membership_over_variants, verdicts_over_variants
from forgetflow.audit.verdicts import VerdictResult
from forgetflow.generation.registry import backend_params
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.paths import resolve_paths
from forgetflow.records import Figure
from storage.tracking import RunHandle
from tasks.context import InputRefs, StageContext, StageResult, VariantRef


@task(name="audit", cache_policy=NO_CACHE)
def audit(
    ctx: StageContext, inputs: InputRefs, variants: list[VariantRef], settings: AuditConfig,
    outlier_rule: ThresholdRule, seed: int,
) -> StageResult:  # fmt: skip
    generator = settings.generator
    with ctx.tracker().stage_run("audit", ctx.parent_run_id) as run:
        run.log_params({"attack": "greedy_prefix_suffix", "prefix_tokens": settings.prefix_tokens,
                        "variants": ",".join(v.label for v in variants),
                        "mia_attacks": ",".join(settings.mia_attacks or ["all"]),
                        "mia_fpr": settings.mia_fpr}
                       | backend_params(generator))  # fmt: skip
        run.set_tags({"backend": generator.name})
        models = ctx.variants(variants)
        forget, retain, holdout = (ctx.samples(ref) for ref in (inputs.forget, inputs.retain,
                                                                inputs.holdout))  # fmt: skip
        logs = resolve_paths(ctx.home).home / "logs" / ctx.parent_run_id / "audit"
        try:
            table = audit_models(models, [*forget, *retain, *holdout], generator, logs,
                                 settings.prefix_tokens)  # fmt: skip
        finally:
            for log in sorted(logs.glob("*/*.log")):  # the vLLM servers' logs
                run.log_file(log, f"logs/{log.parent.name}")
        ref = ctx.store.put_table(table, "extraction")
        run.log_ref("extraction", ref)
        figures = extraction_figures(table)
        figures += top_bucket_figures(table, figures, ("forget", "retain"))
        if settings.mia_attacks != []:
            found = membership_over_variants(
                models, forget, retain, holdout, settings.mia_attacks, settings.mia_fpr, seed
            )
            run.log_ref("membership", ctx.store.put_table(found.table, "membership"))
            figures += found.figures
            for warning in found.warnings:
                print(f"warning: {warning}")
            run.log_dict({"warnings": found.warnings}, "membership_warnings.json")
            figures += judge(ctx, run, verdicts_over_variants(table, found, outlier_rule))
        run.log_figures(figures)
        return StageResult(ref, tuple(figures))


def judge(ctx: StageContext, run: RunHandle, judged: VerdictResult | None) -> list[Figure]:
    """Store the per-sample verdicts and log each variant's model verdict with its reason; the
    verdict figures, with `model_verdict_pass` (1 or 0) per variant."""
    if judged is None:
        print("verdicts: not judged (the designated attack, reference or min_kpp_20, did not run)")
        return []
    run.log_ref("verdicts", ctx.store.put_table(judged.table, "verdicts"))
    reasons = {variant: found.reason for variant, found in judged.models.items()}
    run.log_dict(reasons, "model_verdicts.json")
    for variant, reason in reasons.items():
        print(f"model verdict, {variant}: {reason}")
    passed = [Figure("audit", "model_verdict_pass", variant, "forget",
                     float(found.verdict == "pass"), True, found.n)
              for variant, found in judged.models.items()]  # fmt: skip
    return [*judged.figures, *passed]
