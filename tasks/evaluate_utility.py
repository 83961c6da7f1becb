"""Stage 5: utility (perplexity on retain and holdout) of every model variant."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.utility.perplexity import utility_figures, utility_models
from tasks.context import InputRefs, StageContext, StageResult, VariantRef


@task(name="evaluate_utility", cache_policy=NO_CACHE)
def evaluate_utility(
    ctx: StageContext, inputs: InputRefs, variants: list[VariantRef]
) -> StageResult:
    with ctx.tracker().stage_run("evaluate_utility", ctx.parent_run_id) as run:
        run.log_params({"metrics": "perplexity", "splits": "retain,holdout",
                        "variants": ",".join(v.label for v in variants)})  # fmt: skip
        table = utility_models(ctx.variants(variants), ctx.samples(inputs.retain, inputs.holdout))
        ref = ctx.store.put_table(table, "utility")
        figures = utility_figures(table)
        run.log_figures(figures)
        run.log_ref("utility", ref)
        return StageResult(ref, tuple(figures))
