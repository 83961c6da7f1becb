"""Stage 1: memorization scoring of forget and holdout, and the ledger."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.memorization.ledger import outliers, summary
from forgetflow.memorization.stage import score_to_ledger
from forgetflow.models import load_model
from storage.artifacts import ArtifactRef
from tasks.context import InputRefs, StageContext


@task(name="score_memorization", cache_policy=NO_CACHE)
def score_memorization(
    ctx: StageContext, inputs: InputRefs, batch_size: int, outlier_metric: str
) -> ArtifactRef:
    with ctx.tracker().stage_run("score_memorization", ctx.parent_run_id) as run:
        run.log_params({"batch_size": batch_size, "outlier_metric": outlier_metric})
        model, tokenizer = load_model(ctx.model_dir(inputs.model))
        samples = ctx.samples(inputs.forget, inputs.holdout)
        ledger = score_to_ledger(model, tokenizer, samples, step=0, batch_size=batch_size)
        ref = ctx.store.put_table(ledger, "ledger")
        run.log_metrics(summary(ledger, 0, outlier_metric))
        run.log_dict(
            {"outliers": list(outliers(ledger, 0, outlier_metric).sample_ids)}, "outliers.json"
        )
        run.log_ref("ledger", ref)
        run.log_file(ref.path, "ledger")
        return ref
