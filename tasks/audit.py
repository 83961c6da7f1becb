"""Stage 4: extraction-attack audit of the target (before) and unlearned (after) models."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.audit.extraction import audit_models, extraction_summary
from forgetflow.generation.registry import BackendConfig, backend_params
from forgetflow.paths import resolve_paths
from storage.artifacts import ArtifactRef
from tasks.context import InputRefs, StageContext


@task(name="audit", cache_policy=NO_CACHE)
def audit(
    ctx: StageContext, inputs: InputRefs, unlearned: ArtifactRef, prefix_tokens: int,
    generator: BackendConfig,
) -> ArtifactRef:  # fmt: skip
    with ctx.tracker().stage_run("audit", ctx.parent_run_id) as run:
        run.log_params({"attack": "greedy_prefix_suffix", "prefix_tokens": prefix_tokens}
                       | backend_params(generator))  # fmt: skip
        run.set_tags({"backend": generator.name})
        models = {"before": ctx.model_dir(inputs.model), "after": ctx.model_dir(unlearned)}
        samples = ctx.samples(inputs.forget, inputs.retain, inputs.holdout)
        logs = resolve_paths(ctx.home).home / "logs" / ctx.parent_run_id / "audit"
        try:
            table = audit_models(models, samples, generator, logs, prefix_tokens)
        finally:
            for log in sorted(logs.glob("*/*.log")):  # the vLLM servers' logs
                run.log_file(log, f"logs/{log.parent.name}")
        ref = ctx.store.put_table(table, "extraction")
        run.log_metrics(extraction_summary(table))
        run.log_ref("extraction", ref)
        return ref
