"""Stage 5: utility (perplexity on retain and holdout) before and after unlearning."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.utility.perplexity import utility_models, utility_summary
from storage.artifacts import ArtifactRef
from tasks.context import InputRefs, StageContext


@task(name="evaluate_utility", cache_policy=NO_CACHE)
def evaluate_utility(ctx: StageContext, inputs: InputRefs, unlearned: ArtifactRef) -> ArtifactRef:
    with ctx.tracker().stage_run("evaluate_utility", ctx.parent_run_id) as run:
        run.log_params({"metrics": "perplexity", "splits": "retain,holdout"})
        models = {"before": ctx.model_dir(inputs.model), "after": ctx.model_dir(unlearned)}
        table = utility_models(models, ctx.samples(inputs.retain, inputs.holdout))
        ref = ctx.store.put_table(table, "utility")
        run.log_metrics(utility_summary(table))
        run.log_ref("utility", ref)
        return ref
