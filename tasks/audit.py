"""Stage 4: extraction-attack audit of every model variant (before, after, the retain model)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.audit.extraction import audit_models, extraction_figures, top_bucket_figures
from forgetflow.generation.registry import BackendConfig, backend_params
from forgetflow.paths import resolve_paths
from tasks.context import InputRefs, StageContext, StageResult, VariantRef


@task(name="audit", cache_policy=NO_CACHE)
def audit(
    ctx: StageContext, inputs: InputRefs, variants: list[VariantRef], prefix_tokens: int,
    generator: BackendConfig,
) -> StageResult:  # fmt: skip
    with ctx.tracker().stage_run("audit", ctx.parent_run_id) as run:
        run.log_params({"attack": "greedy_prefix_suffix", "prefix_tokens": prefix_tokens,
                        "variants": ",".join(v.label for v in variants)}
                       | backend_params(generator))  # fmt: skip
        run.set_tags({"backend": generator.name})
        samples = ctx.samples(inputs.forget, inputs.retain, inputs.holdout)
        logs = resolve_paths(ctx.home).home / "logs" / ctx.parent_run_id / "audit"
        try:
            table = audit_models(ctx.variants(variants), samples, generator, logs, prefix_tokens)
        finally:
            for log in sorted(logs.glob("*/*.log")):  # the vLLM servers' logs
                run.log_file(log, f"logs/{log.parent.name}")
        ref = ctx.store.put_table(table, "extraction")
        figures = extraction_figures(table) + top_bucket_figures(table, ("forget", "retain"))
        run.log_figures(figures)
        run.log_ref("extraction", ref)
        return StageResult(ref, tuple(figures))
