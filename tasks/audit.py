"""Stage 4: extraction-attack audit of the target (before) and unlearned (after) models."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.audit.extraction import audit_models, extraction_summary
from storage.artifacts import ArtifactRef
from tasks.context import InputRefs, StageContext


@task(name="audit_extraction", cache_policy=NO_CACHE)
def audit_extraction(
    ctx: StageContext, inputs: InputRefs, unlearned: ArtifactRef, prefix_tokens: int,
    batch_size: int,
) -> ArtifactRef:  # fmt: skip
    with ctx.tracker().stage_run("audit_extraction", ctx.parent_run_id) as run:
        run.log_params({"attack": "greedy_prefix_suffix", "prefix_tokens": prefix_tokens,
                        "backend": "hf", "batch_size": batch_size})  # fmt: skip
        models = {"before": ctx.model_dir(inputs.model), "after": ctx.model_dir(unlearned)}
        samples = ctx.samples(inputs.forget, inputs.retain, inputs.holdout)
        table = audit_models(models, samples, prefix_tokens, batch_size)
        ref = ctx.store.put_table(table, "extraction")
        run.log_metrics(extraction_summary(table))
        run.log_ref("extraction", ref)
        return ref
